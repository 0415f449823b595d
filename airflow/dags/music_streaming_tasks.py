"""What the music-streaming DAGs share: Variable templates, macros, default args, and the Python
callables of their non-Glue tasks. Variables are read at run time (templates or inside callables),
never when the DAG file is parsed.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import timedelta

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from music_streaming import config, datasets, layout

log = logging.getLogger(__name__)
AWS_CONN_ID = "aws_default"
# Retry delay and Glue polling are tunable from the environment (a local stack shortens them).
RETRY_DELAY = timedelta(seconds=int(os.environ.get("MUSIC_PIPELINE_RETRY_DELAY_SECONDS", "300")))
GLUE_POLL_SECONDS = float(os.environ.get("MUSIC_PIPELINE_GLUE_POLL_SECONDS", "6"))


def var_expression(name: str) -> str:
    """Jinja expression reading Variable ``name`` at run time, with the configured default."""
    default = config.VARIABLE_DEFAULTS[name]
    if isinstance(default, (list, dict)):
        return "var.json.get(%r, %s) | tojson" % (name, json.dumps(default))
    return "var.value.get(%r, %r)" % (name, str(default))


def var(name: str) -> str:
    return "{{ %s }}" % var_expression(name)


def run_moment(dag_run):
    return dag_run.logical_date or dag_run.run_after


def batch_id_for(dag_run) -> str:
    """conf ``batch_id`` (set by the Lambda), else ``{ds_nodash}-{ts_nodash}`` of the run."""
    conf_batch = (dag_run.conf or {}).get("batch_id")
    if conf_batch:
        return str(conf_batch)
    moment = run_moment(dag_run)
    return f"{moment:%Y%m%d}-{moment:%Y%m%dT%H%M%S}"


def processing_date_for(dag_run) -> str:
    return run_moment(dag_run).strftime("%Y-%m-%d")


# Shared by every GlueJobOperator: connection, region, job logs in the task log, poll interval.
GLUE_OPERATOR_ARGS = {"aws_conn_id": AWS_CONN_ID, "region_name": var("aws_region"),
                      "verbose": True, "job_poll_interval": GLUE_POLL_SECONDS}
MACROS = {"batch_id_for": batch_id_for, "processing_date_for": processing_date_for}
BATCH_ID = "{{ batch_id_for(dag_run) }}"
PROCESSING_DATE = "{{ processing_date_for(dag_run) }}"


def default_args(retries: int = 2) -> dict:
    notify = SmtpNotifier(
        to="{{ var.json.get('notification_emails', %s) | join(',') }}"
        % json.dumps(config.VARIABLE_DEFAULTS["notification_emails"]),
        subject="[music-streaming] {{ ti.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})")
    return {
        "owner": str(config.VARIABLE_DEFAULTS["dag_owner"]),
        "retries": retries,
        "retry_delay": RETRY_DELAY,
        "on_failure_callback": [notify],
    }


def validation_args(raw_bucket_template: str, keys_template: str) -> dict:
    return {
        "--raw_data_bucket": raw_bucket_template,
        "--processed_bucket": var("processed_bucket"),
        "--quarantine_bucket": var("quarantine_bucket"),
        "--aws_region": var("aws_region"),
        "--batch_id": BATCH_ID,
        "--keys": keys_template,
        "--max_bad_row_ratio": var("max_bad_row_ratio"),
        # The DAG branches on the report; a failed run means the job itself broke.
        "--fail_on_invalid": "false",
    }


def etl_args(task_type: str, raw_bucket_template: str) -> dict:
    return {
        "--JOB_NAME": var("etl_job_name"),
        "--task_type": task_type,
        "--batch_id": BATCH_ID,
        "--processing_date": PROCESSING_DATE,
        "--raw_data_bucket": raw_bucket_template,
        "--processed_bucket": var("processed_bucket"),
        "--archive_bucket": var("archive_bucket"),
        "--dynamodb_table_name": var("dynamodb_table_name"),
        "--aws_region": var("aws_region"),
    }


def read_validation_report(processed_bucket: str, batch_id: str) -> dict:
    key = layout.validation_report_key(batch_id)
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    if not hook.check_for_key(key, processed_bucket):
        raise FileNotFoundError(f"no validation report at s3://{processed_bucket}/{key}")
    return json.loads(hook.read_key(key, processed_bucket))


def choose_branch(processed_bucket: str, batch_id: str, on_valid: str, on_invalid: str) -> str:
    report = read_validation_report(processed_bucket, batch_id)
    log.info("validation of batch %s: %s (%s)", batch_id, report["status"], report["summary"])
    return on_valid if report["status"] == "valid" else on_invalid


def log_validation_failure(processed_bucket: str, batch_id: str) -> dict:
    """Logs why the batch failed validation and where its files were quarantined."""
    report = read_validation_report(processed_bucket, batch_id)
    for entry in report["files"]:
        if entry["status"] != "valid":
            log.error("invalid file %s: %s; quarantined to %s", entry["key"],
                      "; ".join(entry["errors"]), entry.get("quarantined_to"))
    return {"batch_id": batch_id, "invalid_files": report["invalid_files"]}


def raw_dataset_keys(hook: S3Hook, bucket: str, dataset_names,
                     min_age_minutes: float = 0) -> list[str]:
    """CSV keys of the datasets, last modified at least ``min_age_minutes`` ago."""
    from datetime import datetime, timezone

    cutoff = datetime.now(timezone.utc) - timedelta(minutes=float(min_age_minutes))
    keys = []
    paginator = hook.get_conn().get_paginator("list_objects_v2")
    for name in dataset_names:
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{name}/"):
            keys += [o["Key"] for o in page.get("Contents", [])
                     if datasets.dataset_of(o["Key"]) == name and o["LastModified"] <= cutoff]
    return sorted(keys)


# ------------------------------------------------------------------ daily DAG (music_streaming_pipeline)
def validate_aws_connection() -> dict:
    from airflow.providers.amazon.aws.hooks.sts import StsHook

    identity = StsHook(aws_conn_id=AWS_CONN_ID).conn.get_caller_identity()
    log.info("AWS identity: %s", identity.get("Arn"))
    return {"account": identity.get("Account"), "arn": identity.get("Arn")}


def _glue_job_artifacts() -> dict[str, list[str]]:
    """S3 URLs of the script and extra py files of each pipeline Glue job, from GetJob."""
    from airflow.providers.amazon.aws.hooks.glue import GlueJobHook
    from airflow.sdk import Variable

    hook = GlueJobHook(aws_conn_id=AWS_CONN_ID)
    artifacts = {}
    for setting in ("validation_job_name", "etl_job_name"):
        name = Variable.get(setting, default=config.VARIABLE_DEFAULTS[setting])
        job = hook.conn.get_job(JobName=name)["Job"]
        extra = job.get("DefaultArguments", {}).get("--extra-py-files", "")
        artifacts[name] = [job["Command"]["ScriptLocation"], *filter(None, extra.split(","))]
    return artifacts


def _split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def cleanup_s3_scripts(scripts_bucket: str) -> list[str]:
    """Removes files under the scripts prefix that no pipeline Glue job uses any more."""
    in_use = {_split_s3_url(u) for urls in _glue_job_artifacts().values() for u in urls}
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    stale = [k for k in hook.list_keys(bucket_name=scripts_bucket, prefix=config.SCRIPTS_PREFIX)
             if (scripts_bucket, k) not in in_use]
    if stale:
        hook.delete_objects(bucket=scripts_bucket, keys=stale)
    log.info("removed %d stale script(s): %s", len(stale), stale)
    return stale


def init_s3_structure(processed_bucket: str) -> dict:
    """Verifies the buckets and the state file, creating the state file once if missing."""
    from airflow.sdk import Variable

    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    missing = [b for b in (Variable.get(s, default=config.VARIABLE_DEFAULTS[s]) for s in
                           ("raw_data_bucket", "processed_bucket", "archive_bucket",
                            "quarantine_bucket", "scripts_bucket"))
               if not hook.check_for_bucket(b)]
    if missing:
        raise RuntimeError(f"missing buckets (deploy the stack first): {missing}")
    created = False
    if not hook.check_for_key(config.STATE_KEY, processed_bucket):
        hook.load_string(json.dumps({"processed": {}}), config.STATE_KEY, processed_bucket)
        created = True
    return {"state_file_created": created}


def verify_glue_scripts() -> dict:
    """Fails when a Glue job or one of its artifacts is missing in S3."""
    from airflow.exceptions import AirflowException

    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    artifacts = _glue_job_artifacts()
    missing = [u for urls in artifacts.values() for u in urls
               if not hook.check_for_key(*reversed(_split_s3_url(u)))]
    if missing:
        raise AirflowException(f"Glue artifacts missing in S3: {missing}")
    return artifacts


def _state(hook: S3Hook, bucket: str) -> tuple[dict, str | None]:
    obj = hook.get_key(config.STATE_KEY, bucket)
    body = obj.get()
    return json.loads(body["Body"].read()), body.get("ETag")


def _new_files(raw_bucket: str, processed_bucket: str, dataset_names,
               min_age_minutes: str) -> list[str]:
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    processed, _etag = _state(hook, processed_bucket)
    return [k for k in raw_dataset_keys(hook, raw_bucket, dataset_names, float(min_age_minutes))
            if k not in processed["processed"]]


def check_for_new_streams(raw_bucket: str, processed_bucket: str,
                          min_age_minutes: str) -> list[str]:
    return _new_files(raw_bucket, processed_bucket, [datasets.STREAMS], min_age_minutes)


def check_reference_data_updates(raw_bucket: str, processed_bucket: str,
                                 min_age_minutes: str) -> list[str]:
    return _new_files(raw_bucket, processed_bucket, [datasets.SONGS, datasets.USERS],
                      min_age_minutes)


def prepare_data_for_processing(ti) -> dict:
    """The batch: new streams and reference files (XComs pulled here as lists; a template would
    render them as text)."""
    from airflow.exceptions import AirflowSkipException

    new_streams = ti.xcom_pull(task_ids="check_for_new_streams") or []
    reference_updates = ti.xcom_pull(task_ids="check_reference_data_updates") or []
    keys = sorted(set(new_streams) | set(reference_updates))
    if not keys:
        raise AirflowSkipException("no new files: nothing to process today")
    return {"keys": keys, "keys_json": json.dumps(keys)}


def prepare_kpi_job(processed_bucket: str, batch_id: str) -> dict:
    """Goes on with the files that passed validation; invalid ones are already quarantined."""
    from airflow.exceptions import AirflowSkipException

    report = read_validation_report(processed_bucket, batch_id)
    if report["invalid_files"]:
        log.warning("quarantined, not processed: %s", report["invalid_files"])
    if not report["valid_files"]:
        raise AirflowSkipException("no valid files in this batch")
    return {"valid_files": report["valid_files"]}


def prepare_dynamodb_job(processed_bucket: str, batch_id: str) -> dict:
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    summary = json.loads(hook.read_key(layout.etl_summary_key(batch_id), processed_bucket))
    return {"touched_days": summary.get("touched_days", []), "files": sorted(summary["files"])}


def ensure_dynamodb_table(table_name: str) -> list[str]:
    """Creates the KPI table and the file tracker when missing (same definition as the deploys)."""
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    client = DynamoDBHook(aws_conn_id=AWS_CONN_ID).conn.meta.client
    created = []
    for definition in (config.kpi_table_definition(table_name),
                       config.file_tracker_table_definition(table_name)):
        try:
            client.describe_table(TableName=definition["TableName"])
        except client.exceptions.ResourceNotFoundException:
            client.create_table(**definition)
            client.get_waiter("table_exists").wait(TableName=definition["TableName"])
            created.append(definition["TableName"])
    return created


def update_processed_files(processed_bucket: str, batch_id: str, attempts: int = 5) -> int:
    """Adds the batch's files to processed_streams.json with a conditional write (If-Match on the
    ETag read), retrying on conflict, so a concurrent writer's update is never lost."""
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    summary = json.loads(hook.read_key(layout.etl_summary_key(batch_id), processed_bucket))
    client = hook.get_conn()
    for _attempt in range(attempts):
        state, etag = _state(hook, processed_bucket)
        for key in summary["files"]:
            state["processed"][key] = {"batch_id": batch_id}
        try:
            client.put_object(Bucket=processed_bucket, Key=config.STATE_KEY, IfMatch=etag,
                              Body=json.dumps(state, indent=1, sort_keys=True).encode(),
                              ContentType="application/json")
            return len(summary["files"])
        except client.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            log.warning("processed_streams.json changed while updating it; retrying")
    raise RuntimeError(f"could not update {config.STATE_KEY} after {attempts} attempts")
