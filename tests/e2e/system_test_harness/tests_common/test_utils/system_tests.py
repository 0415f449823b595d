"""``get_test_run(dag)``: what a system-test module exposes for pytest; here a function that runs
the DAG with ``dag.test()`` and asserts its state (``run_dag.py`` runs the DAGs directly)."""

from __future__ import annotations

from airflow.utils.state import DagRunState


def get_test_run(dag, **test_kwargs):
    def test_run():
        dag_run = dag.test(**test_kwargs)
        assert dag_run.state == DagRunState.SUCCESS

    return test_run
