"""Daily pipeline (older design): each day, validate and process whatever new files sit in the
raw bucket, with the same Glue jobs as the realtime DAG, and record them in processed_streams.json.
It finds them through the file ledger (recording any upload no event reported) and claims them, so
it never shares a file with a realtime run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import music_streaming_tasks as t
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup, chain

from music_streaming import config

RAW_BUCKET = t.var("raw_data_bucket")
PROCESSED = t.var("processed_bucket")
TABLE = t.var("dynamodb_table_name")
NEW_FILE_FILTER = {
    "raw_bucket": RAW_BUCKET,
    "table_name": TABLE,
    "min_age_minutes": t.var("daily_min_file_age_minutes"),
}

with DAG(
    dag_id=config.DAILY_DAG_ID,
    description="Process music streaming data and compute daily KPIs",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=t.RUN_TIMEOUT,
    default_args=t.default_args(retries=3),
    user_defined_macros=t.MACROS,
    tags=["music", "streaming", "etl"],
    doc_md=__doc__,
) as dag:
    validate_aws_connection = PythonOperator(
        task_id="validate_aws_connection",
        python_callable=t.validate_aws_connection,
        retries=3,
        execution_timeout=timedelta(minutes=5),
    )
    cleanup_s3_scripts = PythonOperator(
        task_id="cleanup_s3_scripts",
        python_callable=t.cleanup_s3_scripts,
        op_kwargs={"scripts_bucket": t.var("scripts_bucket")},
    )
    init_s3_structure = PythonOperator(
        task_id="init_s3_structure",
        python_callable=t.init_s3_structure,
        op_kwargs={"processed_bucket": PROCESSED},
    )
    verify_glue_scripts = PythonOperator(
        task_id="verify_glue_scripts", python_callable=t.verify_glue_scripts
    )
    check_for_new_streams = PythonOperator(
        task_id="check_for_new_streams",
        python_callable=t.check_for_new_streams,
        op_kwargs=NEW_FILE_FILTER,
    )
    check_reference_data_updates = PythonOperator(
        task_id="check_reference_data_updates",
        python_callable=t.check_reference_data_updates,
        op_kwargs=NEW_FILE_FILTER,
    )
    prepare_data_for_processing = PythonOperator(
        task_id="prepare_data_for_processing",
        python_callable=t.prepare_data_for_processing,
        op_kwargs={
            "processed_bucket": PROCESSED,
            "table_name": TABLE,
            "batch_id": t.BATCH_ID,
            "limit": t.var("max_files_per_batch"),
        },
    )
    prepare_kpi_job = PythonOperator(
        task_id="prepare_kpi_job",
        python_callable=t.prepare_kpi_job,
        op_kwargs={"processed_bucket": PROCESSED, "batch_id": t.BATCH_ID},
    )
    prepare_dynamodb_job = PythonOperator(
        task_id="prepare_dynamodb_job",
        python_callable=t.prepare_dynamodb_job,
        op_kwargs={"processed_bucket": PROCESSED, "batch_id": t.BATCH_ID},
    )
    ensure_dynamodb_table = PythonOperator(
        task_id="ensure_dynamodb_table",
        python_callable=t.ensure_dynamodb_table,
        op_kwargs={"table_name": TABLE},
    )
    with TaskGroup("run_glue_job") as run_glue_job:
        validation = GlueJobOperator(
            task_id="validation",
            job_name=t.var("validation_job_name"),
            script_args=t.validation_args(RAW_BUCKET, "prepare_data_for_processing"),
            **t.GLUE_OPERATOR_ARGS,
        )
        kpi = GlueJobOperator(
            task_id="kpi",
            job_name=t.var("etl_job_name"),
            script_args=t.etl_args("full_etl", RAW_BUCKET),
            **t.GLUE_OPERATOR_ARGS,
        )
        dynamodb = GlueJobOperator(
            task_id="dynamodb",
            job_name=t.var("etl_job_name"),
            script_args=t.etl_args("dynamodb_only", RAW_BUCKET),
            **t.GLUE_OPERATOR_ARGS,
        )
    archive_processed_data = GlueJobOperator(
        task_id="archive_processed_data",
        job_name=t.var("etl_job_name"),
        script_args=t.etl_args("archiving_only", RAW_BUCKET),
        **t.GLUE_OPERATOR_ARGS,
    )
    update_processed_files = PythonOperator(
        task_id="update_processed_files",
        python_callable=t.update_processed_files,
        op_kwargs={"processed_bucket": PROCESSED, "batch_id": t.BATCH_ID},
    )

    chain(
        validate_aws_connection,
        cleanup_s3_scripts,
        init_s3_structure,
        verify_glue_scripts,
        check_for_new_streams,
        check_reference_data_updates,
        prepare_data_for_processing,
        validation,
        prepare_kpi_job,
        kpi,
        prepare_dynamodb_job,
        dynamodb,
        archive_processed_data,
        update_processed_files,
    )
    chain(verify_glue_scripts, ensure_dynamodb_table, dynamodb)
