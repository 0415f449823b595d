"""The local-first dev stack around the pipeline, in layers (each imports only those above it in
this list; tests/unit/test_layers.py checks it, docs/architecture.md explains it):

    core/       paths, the stack's configuration, the emulator's settings, the Airflow REST client
    services/   the local Glue and MWAA APIs and the Glue runner (standard library + boto3: the
                Glue image runs them)
    provision/  packaging, bootstrap, deploy, seeding
    runtime/    the process manager (up, down, status)
    tools/      the demo, benchmarks, KPI query, ledger report, the DuckDB reference
    cli.py      ``python -m devstack COMMAND``
"""
