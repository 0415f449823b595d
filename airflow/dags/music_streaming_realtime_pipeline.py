"""Realtime pipeline: a file lands in the raw bucket, the Lambda ``trigger_dag_lambda`` starts this
DAG with ``conf = {"batch_id", "raw_data_bucket", "keys"}``. Validation (Glue Python shell) writes a
report; the branch reads it; the ETL job then runs as full_etl, dynamodb_only and archiving_only.
A manual run without conf validates and processes every CSV currently in the raw bucket.
"""
from __future__ import annotations

from datetime import datetime

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
from airflow.sdk import DAG

import music_streaming_tasks as t
from music_streaming import config

RAW_BUCKET = ("{{ (dag_run.conf or {}).get('raw_data_bucket') or %s }}"
              % t.var_expression("raw_data_bucket"))
BATCH_KEYS = "{{ (dag_run.conf or {}).get('keys', []) | tojson }}"

with DAG(
    dag_id=config.REALTIME_DAG_ID,
    description="Validate, transform and load one batch of music-streaming files",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=t.default_args(retries=2),
    user_defined_macros=t.MACROS,
    tags=["music", "streaming", "etl", "realtime"],
    doc_md=__doc__,
) as dag:
    start = EmptyOperator(task_id="start")
    validate = GlueJobOperator(
        task_id="validate_data_quality", job_name=t.var("validation_job_name"),
        script_args=t.validation_args(RAW_BUCKET, BATCH_KEYS),
        **t.GLUE_OPERATOR_ARGS)
    check = BranchPythonOperator(
        task_id="check_validation_status", python_callable=t.choose_branch,
        op_kwargs={"processed_bucket": t.var("processed_bucket"), "batch_id": t.BATCH_ID,
                   "on_valid": "realtime_etl_processing", "on_invalid": "validation_failed_end"})
    etl = GlueJobOperator(task_id="realtime_etl_processing", job_name=t.var("etl_job_name"),
                          script_args=t.etl_args("full_etl", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS)
    to_dynamodb = GlueJobOperator(task_id="write_to_dynamodb", job_name=t.var("etl_job_name"),
                                  script_args=t.etl_args("dynamodb_only", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS)
    archive = GlueJobOperator(task_id="archive_processed_files", job_name=t.var("etl_job_name"),
                              script_args=t.etl_args("archiving_only", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS)
    success_end = EmptyOperator(task_id="success_end")
    validation_failed_end = PythonOperator(
        task_id="validation_failed_end", python_callable=t.log_validation_failure,
        op_kwargs={"processed_bucket": t.var("processed_bucket"), "batch_id": t.BATCH_ID})

    start >> validate >> check >> [etl, validation_failed_end]
    etl >> to_dynamodb >> archive >> success_end
