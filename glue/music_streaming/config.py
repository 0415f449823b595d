"""The one definition of names and settings of the pipeline.

The DAGs (Variable defaults), the local stack's bootstrap, the AWS templates' tests and the scripts
all read this module, so a name changes in one place only. Standard library only: MWAA imports it
from the DAGs folder and Glue's Python shell imports it on Python 3.9.
"""

from __future__ import annotations

PROJECT = "music-streaming"
DEFAULT_REGION = "us-east-1"

REALTIME_DAG_ID = "music_streaming_realtime_pipeline"
DAILY_DAG_ID = "music_streaming_pipeline"
# Every few minutes: takes back files of dead runs, drops a stale trigger flag, finds uploads no
# event reported, and starts a realtime run while files wait and none is waiting.
SWEEPER_DAG_ID = "music_streaming_sweeper"
LAMBDA_FUNCTION_NAME = "trigger_dag_lambda"
MWAA_ENVIRONMENT_NAME = "music-streaming-airflow"

# The Glue Data Catalog database of the processed data (tables: catalog.py), and the Athena
# workgroup that queries it in AWS (results under ATHENA_RESULTS_PREFIX of the processed bucket).
CATALOG_DATABASE = "music_streaming"
ATHENA_WORKGROUP = PROJECT
ATHENA_RESULTS_PREFIX = "athena_results/"

# Airflow Variables of the realtime design, with the defaults the DAGs fall back to.
VARIABLE_DEFAULTS: dict[str, object] = {
    "dag_owner": "data-engineering-team",
    "notification_emails": ["data-engineering@example.com"],
    "aws_region": DEFAULT_REGION,
    "raw_data_bucket": f"{PROJECT}-raw",
    "processed_bucket": f"{PROJECT}-processed",
    "quarantine_bucket": f"{PROJECT}-quarantine",
    "archive_bucket": f"{PROJECT}-archive",
    "scripts_bucket": f"{PROJECT}-glue-assets",
    "dynamodb_table_name": f"{PROJECT}-kpis",
    "validation_job_name": "music_streaming_validation",
    "etl_job_name": "music_streaming_etl_complete",
    # where the ETL job registers the partitions it writes
    "catalog_database": CATALOG_DATABASE,
    "dag_id": REALTIME_DAG_ID,
    # Fraction of malformed rows a file may hold and still pass validation (bad rows are then
    # dropped by the ETL job and counted). 0 = any bad row fails the file.
    "max_bad_row_ratio": 0.0,
    # The daily DAG takes only files older than this: newer ones belong to the realtime trigger,
    # so both DAGs never work on one file at once.
    "daily_min_file_age_minutes": 60,
    # A run claims at most this many pending files (a burst becomes a few batches).
    "max_files_per_batch": 100,
    # Runs that may die holding a file before it is FAILED (each retry in a batch half the size
    # of the one it failed in, the last alone; scripts/retry puts a FAILED file back).
    "max_file_attempts": 4,
}

# A realtime run that was requested but never started its claim step (its trigger died) stops
# blocking new triggers after this long.
RUN_REQUEST_STALE_SECONDS = 600
# The sweeper drops a flag whose run does not exist this long after the flag was taken (the
# trigger died between the two), and leaves uploads younger than this to the Lambda.
RUN_REQUEST_GRACE_SECONDS = 120
SWEEP_MIN_FILE_AGE_SECONDS = 120
# Glue refuses job arguments over 260 KB in all; a batch's file list longer than this goes to the
# job as an S3 manifest instead (layout.files_manifest_key).
MAX_JOB_ARGUMENTS_BYTES = 260 * 1024
MAX_INLINE_FILES_BYTES = 64 * 1024
# The sweeper's metrics; FailedFiles > 0 raises the template's alarm.
RECOVERY_METRICS_NAMESPACE = "Pipeline/Recovery"

FILE_TRACKER_SUFFIX = "_file_tracker"


def file_tracker_table(kpi_table: str) -> str:
    return kpi_table + FILE_TRACKER_SUFFIX


# The tag an archive copy gets once its file is ARCHIVED: the archive's lifecycle moves only
# tagged copies to cold storage, so a copy the ETL may still read stays readable.
ARCHIVED_TAG = ("pipeline-state", "archived")

# Object layout inside the buckets.
SCRIPTS_PREFIX = "scripts/"
PACKAGE_ARCHIVE_NAME = "music_streaming.zip"
STATE_KEY = "state/processed_streams.json"
# The ETL job's Spark event logs (Glue's --spark-event-logs-path), in the processed bucket.
SPARK_EVENT_LOGS_PREFIX = "spark_event_logs/"

# Glue job definitions (Glue 5.0, as in the designs: G.1X, 2 workers, 60 min, 3 concurrent runs).
GLUE_VERSION = "5.0"
PYTHON_SHELL_GLUE_VERSION = "3.0"
GLUE_JOBS: dict[str, dict[str, object]] = {
    "validation": {
        "name": VARIABLE_DEFAULTS["validation_job_name"],
        "command": "pythonshell",
        "python_version": "3.9",
        "script": "music_streaming_validation.py",
        "max_capacity": 0.0625,
        "timeout_minutes": 60,
        "max_concurrent_runs": 3,
    },
    "etl": {
        "name": VARIABLE_DEFAULTS["etl_job_name"],
        "command": "glueetl",
        "python_version": "3",
        "script": "etl_streaming_pipeline_complete.py",
        "worker_type": "G.1X",
        "number_of_workers": 2,
        "timeout_minutes": 60,
        "max_concurrent_runs": 3,
    },
}


def script_url(settings: dict, job_key: str) -> str:
    return f"s3://{settings['scripts_bucket']}/{SCRIPTS_PREFIX}{GLUE_JOBS[job_key]['script']}"


def spark_event_logs_url(settings: dict) -> str:
    return f"s3://{settings['processed_bucket']}/{SPARK_EVENT_LOGS_PREFIX}"


def package_url(settings: dict) -> str:
    return f"s3://{settings['scripts_bucket']}/{SCRIPTS_PREFIX}{PACKAGE_ARCHIVE_NAME}"


def glue_job_definition(job_key: str, settings: dict, role_arn: str) -> dict:
    """CreateJob arguments of a pipeline job (local Glue API and the AWS template alike)."""
    spec = GLUE_JOBS[job_key]
    arguments = {
        "--extra-py-files": package_url(settings),
        "--enable-continuous-cloudwatch-log": "true",
        "--job-language": "python",
        "--raw_data_bucket": str(settings["raw_data_bucket"]),
        "--processed_bucket": str(settings["processed_bucket"]),
        "--aws_region": str(settings["aws_region"]),
    }
    arguments.update(
        {
            "--archive_bucket": str(settings["archive_bucket"]),
            "--dynamodb_table_name": str(settings["dynamodb_table_name"]),
        }
    )
    if job_key == "validation":
        arguments["--quarantine_bucket"] = str(settings["quarantine_bucket"])
    else:  # the ETL job registers the partitions it writes; its Spark UI as in Glue's console
        arguments["--catalog_database"] = str(settings["catalog_database"])
        arguments["--enable-spark-ui"] = "true"
        arguments["--spark-event-logs-path"] = spark_event_logs_url(settings)
    definition = {
        "Name": spec["name"],
        "Role": role_arn,
        "Command": {
            "Name": spec["command"],
            "ScriptLocation": script_url(settings, job_key),
            "PythonVersion": spec["python_version"],
        },
        "DefaultArguments": arguments,
        "ExecutionProperty": {"MaxConcurrentRuns": spec["max_concurrent_runs"]},
        "MaxRetries": 0,
        "Timeout": spec["timeout_minutes"],
    }
    if spec["command"] == "pythonshell":
        definition.update(MaxCapacity=spec["max_capacity"], GlueVersion=PYTHON_SHELL_GLUE_VERSION)
    else:
        definition.update(
            WorkerType=spec["worker_type"],
            NumberOfWorkers=spec["number_of_workers"],
            GlueVersion=GLUE_VERSION,
        )
    return definition


# The Lambda trigger.
LAMBDA_HANDLER = "lambda_function.lambda_handler"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT_SECONDS = 60


# How the Lambda starts a DAG run: MWAA's InvokeRestApi, or the original design's CLI token.
TRIGGER_METHODS = ("rest_api", "cli")


def lambda_environment(settings: dict) -> dict[str, str]:
    return {
        "MWAA_ENVIRONMENT_NAME": MWAA_ENVIRONMENT_NAME,
        "DAG_ID": REALTIME_DAG_ID,
        "TRIGGER_METHOD": TRIGGER_METHODS[0],
        "FILE_LEDGER_TABLE": file_tracker_table(str(settings["dynamodb_table_name"])),
    }


# Tuning of the ETL job, applied by the job itself when its session starts (Glue reserves --conf).
# Outputs are replaced per batch path (static overwrite); commit algorithm 2 halves the renames,
# which are copies on S3.
SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
    "spark.sql.parquet.mergeSchema": "false",
    # The contract's times without an offset are UTC (kpis.contract_timestamp relies on it).
    "spark.sql.session.timeZone": "UTC",
}


def settings(overrides: dict[str, object] | None = None) -> dict[str, object]:
    """Variable defaults with overrides applied (e.g. from the environment of a local stack)."""
    merged = dict(VARIABLE_DEFAULTS)
    merged.update(overrides or {})
    return merged


# DynamoDB tables. KPI items have deterministic keys (see dynamo_items), so a rerun overwrites.
KPI_DATE_INDEX = "date-index"


def kpi_table_definition(table_name: str) -> dict:
    """CreateTable arguments of the KPI table (local bootstrap, daily DAG and AWS template)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "date", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": KPI_DATE_INDEX,
                "KeySchema": [
                    {"AttributeName": "date", "KeyType": "HASH"},
                    {"AttributeName": "pk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


LEDGER_STATE_INDEX = "state-index"


def file_tracker_table_definition(table_name: str) -> dict:
    """The file ledger (see ledger.py): one item per raw file version, ``state-index`` finds the
    files in a state, oldest upload first. Same key as the designs' file tracker."""
    return {
        "TableName": file_tracker_table(table_name),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "file_key", "AttributeType": "S"},
            {"AttributeName": "state", "AttributeType": "S"},
            {"AttributeName": "upload_order", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "file_key", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": LEDGER_STATE_INDEX,
                "KeySchema": [
                    {"AttributeName": "state", "KeyType": "HASH"},
                    {"AttributeName": "upload_order", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
