"""Sweeper: nothing waits for a person. Every few minutes (``MUSIC_PIPELINE_SWEEP_MINUTES``, 5 by
default) it takes back the files of realtime or daily runs that failed, ended, were deleted or
overran their lease (RECEIVED again with one attempt more, in a batch half the size, the last
attempt alone; FAILED with the step and reason once ``max_file_attempts`` are used), drops a
trigger flag that no waiting run holds, records uploads no S3 event reported, and starts a
realtime run whenever files wait and no realtime run is active. The same code runs in MWAA.
"""

from __future__ import annotations

from datetime import datetime

import music_streaming_tasks as t
from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

from music_streaming import config

NEXT_BATCH = "{{ ti.xcom_pull(task_ids='files_waiting')['batch_id'] }}"

with DAG(
    dag_id=config.SWEEPER_DAG_ID,
    description="Take back files of dead runs and start a run for files that wait",
    schedule=t.SWEEP_INTERVAL,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=t.SWEEP_INTERVAL * 2,
    default_args=t.default_args(retries=1),
    tags=["music", "streaming", "recovery"],
    doc_md=__doc__,
) as dag:
    sweep = PythonOperator(
        task_id="sweep_stranded_files",
        python_callable=t.sweep_stranded_files,
        op_kwargs={
            "raw_bucket": t.var("raw_data_bucket"),
            "table_name": t.var("dynamodb_table_name"),
            "attempts_allowed": t.var("max_file_attempts"),
        },
    )
    files_waiting = ShortCircuitOperator(
        task_id="files_waiting",
        python_callable=t.start_run_if_idle,
        op_kwargs={
            "raw_bucket": t.var("raw_data_bucket"),
            "table_name": t.var("dynamodb_table_name"),
            "run_id": "{{ run_id }}",
        },
    )
    start_realtime_run = TriggerDagRunOperator(
        task_id="start_realtime_run",
        trigger_dag_id=config.REALTIME_DAG_ID,
        trigger_run_id=NEXT_BATCH,
        conf={"batch_id": NEXT_BATCH, "raw_data_bucket": t.var("raw_data_bucket")},
        skip_when_already_exists=True,
        wait_for_completion=False,
    )

    sweep >> files_waiting >> start_realtime_run
