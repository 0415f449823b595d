"""The local AWS Glue API, split as moto splits a service: ``models`` (jobs, runs, bookmarks and
connections, persisted), ``catalog`` (the Data Catalog), ``responses`` (Glue's JSON protocol:
operation dispatch and reply shapes), ``exceptions`` (one class per Glue error code),
``supervisor`` (a run's process: start, timeout, stop), ``runtime`` (the command line that runs
a script as Glue does), ``logs`` (shipping a run's output to CloudWatch Logs). Standard library,
boto3 and botocore only: the Glue image runs it.

    python -m devstack.services.glue --port 4580 --state-dir .stack/glue --endpoint http://127.0.0.1:4566
"""
