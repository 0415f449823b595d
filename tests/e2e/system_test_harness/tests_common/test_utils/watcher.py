"""``watcher()``: the DAGs' last task; it runs only when a task failed, and then fails, so the
run's state says whether every task passed (teardown tasks run whatever happens)."""

from __future__ import annotations

from airflow.exceptions import AirflowException
from airflow.sdk import TriggerRule, task


@task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
def watcher():
    raise AirflowException("a task of the system test failed")
