"""Realtime pipeline: a file lands in the raw bucket, the Lambda ``trigger_dag_lambda`` records it
in the file ledger and starts this DAG (``conf = {"batch_id", "raw_data_bucket", "keys", "files"}``)
unless a run is already waiting. The run claims its files plus every other pending one (a burst
becomes a few batches; a run with nothing left to claim ends at ``no_pending_files_end`` without Glue
runs). Validation (Glue Python shell) writes a report; the branch reads it; the ETL job then runs
as full_etl, dynamodb_only and archiving_only. At the end, whatever the outcome, the run starts the
next one while files are still pending. A manual run without conf takes every pending file.
"""

from __future__ import annotations

from datetime import datetime

import music_streaming_tasks as t
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, chain

from music_streaming import config

RAW_BUCKET = "{{ (dag_run.conf or {}).get('raw_data_bucket') or %s }}" % t.var_expression(
    "raw_data_bucket"
)
TRIGGERING_FILES = "{{ (dag_run.conf or {}).get('files', []) | tojson }}"

with DAG(
    dag_id=config.REALTIME_DAG_ID,
    description="Validate, transform and load one batch of music-streaming files",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=t.RUN_TIMEOUT,
    default_args=t.default_args(retries=2),
    user_defined_macros=t.MACROS,
    tags=["music", "streaming", "etl", "realtime"],
    doc_md=__doc__,
) as dag:
    start = EmptyOperator(task_id="start")
    claim = BranchPythonOperator(
        task_id="claim_files",
        python_callable=t.claim_realtime_batch,
        op_kwargs={
            "raw_bucket": RAW_BUCKET,
            "processed_bucket": t.var("processed_bucket"),
            "table_name": t.var("dynamodb_table_name"),
            "batch_id": t.BATCH_ID,
            "first_files": TRIGGERING_FILES,
            "limit": t.var("max_files_per_batch"),
            "on_claimed": "validate_data_quality",
            "on_empty": "no_pending_files_end",
        },
    )
    no_pending_files_end = EmptyOperator(task_id="no_pending_files_end")
    validate = GlueJobOperator(
        task_id="validate_data_quality",
        job_name=t.var("validation_job_name"),
        script_args=t.validation_args(RAW_BUCKET, "claim_files"),
        **t.GLUE_OPERATOR_ARGS,
    )
    check = BranchPythonOperator(
        task_id="check_validation_status",
        python_callable=t.choose_branch,
        op_kwargs={
            "processed_bucket": t.var("processed_bucket"),
            "batch_id": t.BATCH_ID,
            "on_valid": "realtime_etl_processing",
            "on_invalid": "validation_failed_end",
        },
    )
    etl = GlueJobOperator(
        task_id="realtime_etl_processing",
        job_name=t.var("etl_job_name"),
        script_args=t.etl_args("full_etl", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS,
    )
    to_dynamodb = GlueJobOperator(
        task_id="write_to_dynamodb",
        job_name=t.var("etl_job_name"),
        script_args=t.etl_args("dynamodb_only", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS,
    )
    archive = GlueJobOperator(
        task_id="archive_processed_files",
        job_name=t.var("etl_job_name"),
        script_args=t.etl_args("archiving_only", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS,
    )
    success_end = EmptyOperator(task_id="success_end")
    validation_failed_end = PythonOperator(
        task_id="validation_failed_end",
        python_callable=t.log_validation_failure,
        op_kwargs={"processed_bucket": t.var("processed_bucket"), "batch_id": t.BATCH_ID},
    )
    # Runs whatever happened above (all_done) but is not the only leaf: success_end still
    # carries a failure into the run's state.
    more_files_waiting = ShortCircuitOperator(
        task_id="more_files_waiting",
        python_callable=t.request_next_batch,
        trigger_rule="all_done",
        op_kwargs={
            "raw_bucket": RAW_BUCKET,
            "table_name": t.var("dynamodb_table_name"),
            "run_id": "{{ run_id }}",
        },
    )
    start_next_batch = TriggerDagRunOperator(
        task_id="start_next_batch",
        trigger_dag_id=config.REALTIME_DAG_ID,
        trigger_run_id="{{ ti.xcom_pull(task_ids='more_files_waiting')['batch_id'] }}",
        conf={
            "batch_id": "{{ ti.xcom_pull(task_ids='more_files_waiting')['batch_id'] }}",
            "raw_data_bucket": RAW_BUCKET,
        },
        skip_when_already_exists=True,
        wait_for_completion=False,
    )

    start >> claim >> [validate, no_pending_files_end]
    validate >> check >> [etl, validation_failed_end]
    chain(etl, to_dynamodb, archive, success_end)
    [archive, validation_failed_end, no_pending_files_end] >> more_files_waiting
    more_files_waiting >> start_next_batch
