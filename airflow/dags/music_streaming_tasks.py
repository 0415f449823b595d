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

from music_streaming import aws, config, datasets, layout
from music_streaming.job_args import EtlArgs, ValidationArgs

log = logging.getLogger(__name__)
AWS_CONN_ID = "aws_default"
# Retry delay and Glue polling are tunable from the environment (a local stack shortens them).
RETRY_DELAY = timedelta(seconds=int(os.environ.get("MUSIC_PIPELINE_RETRY_DELAY_SECONDS", "300")))
GLUE_POLL_SECONDS = float(os.environ.get("MUSIC_PIPELINE_GLUE_POLL_SECONDS", "6"))
# A pipeline run that takes longer is failed by Airflow; a claim's lease outlives it a little,
# so the sweeper takes files back from a run Airflow lost track of too.
RUN_TIMEOUT = timedelta(minutes=int(os.environ.get("MUSIC_PIPELINE_RUN_TIMEOUT_MINUTES", "240")))
LEASE_SECONDS = RUN_TIMEOUT.total_seconds() + 900
SWEEP_INTERVAL = timedelta(minutes=int(os.environ.get("MUSIC_PIPELINE_SWEEP_MINUTES", "5")))


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
GLUE_OPERATOR_ARGS = {
    "aws_conn_id": AWS_CONN_ID,
    "region_name": var("aws_region"),
    "verbose": True,
    "job_poll_interval": GLUE_POLL_SECONDS,
    # a killed task (run marked failed, timed out) stops its Glue run: no orphan writes on
    "stop_job_run_on_kill": True,
}
MACROS = {"batch_id_for": batch_id_for, "processing_date_for": processing_date_for}
BATCH_ID = "{{ batch_id_for(dag_run) }}"
PROCESSING_DATE = "{{ processing_date_for(dag_run) }}"


def default_args(retries: int = 2) -> dict:
    notify = SmtpNotifier(
        to="{{ var.json.get('notification_emails', %s) | join(',') }}"
        % json.dumps(config.VARIABLE_DEFAULTS["notification_emails"]),
        subject="[music-streaming] {{ ti.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})",
    )
    return {
        "owner": str(config.VARIABLE_DEFAULTS["dag_owner"]),
        "retries": retries,
        "retry_delay": RETRY_DELAY,
        "on_failure_callback": [notify],
    }


CLAIMED_FILES = "{{ ti.xcom_pull(task_ids='%s', key='files_json') }}"
FILES_MANIFEST = "{{ ti.xcom_pull(task_ids='%s', key='files_manifest') or '' }}"


def validation_args(raw_bucket_template: str, claim_task_id: str) -> dict:
    """Templates of every ValidationArgs field (a field without one fails at parse time)."""
    templates = {
        "raw_data_bucket": raw_bucket_template,
        "processed_bucket": var("processed_bucket"),
        "quarantine_bucket": var("quarantine_bucket"),
        "archive_bucket": var("archive_bucket"),
        "dynamodb_table_name": var("dynamodb_table_name"),
        "aws_region": var("aws_region"),
        "batch_id": BATCH_ID,
        "processing_date": PROCESSING_DATE,
        "files": CLAIMED_FILES % claim_task_id,
        "files_manifest": FILES_MANIFEST % claim_task_id,
        "max_files": var("max_files_per_batch"),
        "max_bad_row_ratio": var("max_bad_row_ratio"),
        # The DAG branches on the report; a failed run means the job itself broke.
        "fail_on_invalid": "false",
    }
    return {f"--{name}": templates[name] for name in ValidationArgs.names()}


def etl_args(task_type: str, raw_bucket_template: str) -> dict:
    """Templates of every EtlArgs field (a field without one fails at parse time)."""
    templates = {
        "JOB_NAME": var("etl_job_name"),
        "task_type": task_type,
        "batch_id": BATCH_ID,
        "processing_date": PROCESSING_DATE,
        "raw_data_bucket": raw_bucket_template,
        "processed_bucket": var("processed_bucket"),
        "archive_bucket": var("archive_bucket"),
        "dynamodb_table_name": var("dynamodb_table_name"),
        "aws_region": var("aws_region"),
        "catalog_database": var("catalog_database"),
    }
    return {f"--{name}": templates[name] for name in EtlArgs.names()}


def _lease(ti):
    from music_streaming import ledger as file_ledger

    return file_ledger.Lease(ti.dag_id, ti.run_id, LEASE_SECONDS)


def _ledger(table_name: str):
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    from music_streaming import ledger as file_ledger

    table = DynamoDBHook(aws_conn_id=AWS_CONN_ID).conn.Table(config.file_tracker_table(table_name))
    return file_ledger.Ledger(table)


def publish_claimed(ti, processed_bucket: str, batch_id: str, files: list[str]) -> None:
    """Hands the claimed file ids to the validation job: inline (XCom ``files_json``), or, when
    the list would not fit Glue's job-argument limit, as an S3 manifest (``files_manifest``)."""
    text = json.dumps(files)
    manifest = ""
    if len(text.encode("utf-8")) > config.MAX_INLINE_FILES_BYTES:
        key = layout.files_manifest_key(batch_id)
        S3Hook(aws_conn_id=AWS_CONN_ID).load_string(text, key, processed_bucket, replace=True)
        manifest, text = layout.s3_url(processed_bucket, key), "[]"
    ti.xcom_push(key="files_json", value=text)
    ti.xcom_push(key="files_manifest", value=manifest)


def claim_realtime_batch(
    ti,
    raw_bucket: str,
    processed_bucket: str,
    table_name: str,
    batch_id: str,
    first_files: str,
    limit: str,
    on_claimed: str,
    on_empty: str,
) -> str:
    """Claims the triggering files and every other pending one (up to ``limit``) for this run.

    Drops the "run waiting" flag first: an upload from now on triggers the next run. Records any
    upload no event reported (a sweep of the raw bucket). A run that finds nothing left to claim
    (a burst's other runs took it) ends here, without Glue runs."""
    from music_streaming import ledger as file_ledger

    ledger = _ledger(table_name)
    ledger.release_run_request(batch_id)  # only if this run holds it
    swept = file_ledger.discover(S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), ledger, raw_bucket)
    if swept:
        log.warning(
            "recorded %d upload(s) no event reported: %s", len(swept), [v.key for v in swept]
        )
    first = json.loads(first_files or "[]")
    claimed = ledger.claim(batch_id, int(limit), first, lease=_lease(ti), bucket=raw_bucket)
    files = [i["file_key"] for i in claimed]
    publish_claimed(ti, processed_bucket, batch_id, files)
    log.info("batch %s claimed %d file(s): %s", batch_id, len(files), [i["key"] for i in claimed])
    return on_claimed if files else on_empty


def request_next_batch(raw_bucket: str, table_name: str, run_id: str) -> dict | bool:
    """After a run: if files are still pending and no run is waiting, take the run flag and name
    the next run (batch id as the Lambda would give it, from the oldest pending file)."""
    from datetime import datetime, timezone

    from music_streaming import ledger as file_ledger

    ledger = _ledger(table_name)
    pending = ledger.in_state(file_ledger.RECEIVED, raw_bucket)
    if not pending:
        return False
    oldest = pending[0]
    batch_id = layout.batch_id_for(
        raw_bucket, oldest["key"], datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    )
    if not ledger.request_run(batch_id, config.RUN_REQUEST_STALE_SECONDS):
        log.info("%d file(s) pending; a run is already waiting for them", len(pending))
        return False
    log.info("%d file(s) pending after run %s: starting %s", len(pending), run_id, batch_id)
    return {"batch_id": batch_id}


def read_validation_report(processed_bucket: str, batch_id: str) -> dict:
    key = layout.validation_report_key(batch_id)
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    if not hook.check_for_key(key, processed_bucket):
        raise FileNotFoundError(f"no validation report at s3://{processed_bucket}/{key}")
    return json.loads(hook.read_key(key, processed_bucket))


def choose_branch(processed_bucket: str, batch_id: str, on_valid: str, on_invalid: str) -> str:
    """ETL when any file is valid (the invalid ones are quarantined already: one bad file of a
    burst must not hold back the rest)."""
    report = read_validation_report(processed_bucket, batch_id)
    log.info("validation of batch %s: %s (%s)", batch_id, report["status"], report["summary"])
    return on_valid if report["valid_files"] else on_invalid


def log_validation_failure(processed_bucket: str, batch_id: str) -> dict:
    """Logs why the batch failed validation and where its files were quarantined."""
    report = read_validation_report(processed_bucket, batch_id)
    for entry in report["files"]:
        if entry["status"] != "valid":
            log.error(
                "invalid file %s: %s; quarantined to %s",
                entry["key"],
                "; ".join(entry["errors"]),
                entry.get("quarantined_to"),
            )
    return {"batch_id": batch_id, "invalid_files": report["invalid_files"]}


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


def cleanup_s3_scripts(scripts_bucket: str) -> list[str]:
    """Removes files under the scripts prefix that no pipeline Glue job uses any more."""
    in_use = {layout.split_s3_url(u) for urls in _glue_job_artifacts().values() for u in urls}
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    stale = [
        k
        for k in hook.list_keys(bucket_name=scripts_bucket, prefix=config.SCRIPTS_PREFIX)
        if (scripts_bucket, k) not in in_use
    ]
    if stale:
        hook.delete_objects(bucket=scripts_bucket, keys=stale)
    log.info("removed %d stale script(s): %s", len(stale), stale)
    return stale


def init_s3_structure(processed_bucket: str) -> dict:
    """Verifies the buckets and the state file, creating the state file once if missing."""
    from airflow.sdk import Variable

    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    missing = [
        b
        for b in (
            Variable.get(s, default=config.VARIABLE_DEFAULTS[s])
            for s in (
                "raw_data_bucket",
                "processed_bucket",
                "archive_bucket",
                "quarantine_bucket",
                "scripts_bucket",
            )
        )
        if not hook.check_for_bucket(b)
    ]
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
    missing = [
        u
        for urls in artifacts.values()
        for u in urls
        if not hook.check_for_key(*reversed(layout.split_s3_url(u)))
    ]
    if missing:
        raise AirflowException(f"Glue artifacts missing in S3: {missing}")
    return artifacts


def _state(hook: S3Hook, bucket: str) -> tuple[dict, str | None]:
    obj = hook.get_key(config.STATE_KEY, bucket)
    body = obj.get()
    return json.loads(body["Body"].read()), body.get("ETag")


def _pending(raw_bucket: str, table_name: str, dataset_names, min_age_minutes: str) -> list[str]:
    """Pending (RECEIVED) file versions of the datasets uploaded at least ``min_age_minutes``
    ago, after recording what no event reported (the daily sweep)."""
    from datetime import datetime, timedelta, timezone

    from music_streaming import ledger as file_ledger

    ledger = _ledger(table_name)
    age = float(min_age_minutes) * 60
    file_ledger.discover(S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), ledger, raw_bucket, age)
    cutoff = file_ledger.uploaded_at(datetime.now(timezone.utc) - timedelta(seconds=age))
    return [
        i["file_key"]
        for i in ledger.in_state(file_ledger.RECEIVED, raw_bucket)
        if i["dataset"] in dataset_names and i["uploaded_at"] <= cutoff
    ]


def check_for_new_streams(raw_bucket: str, table_name: str, min_age_minutes: str) -> list[str]:
    return _pending(raw_bucket, table_name, [datasets.STREAMS], min_age_minutes)


def check_reference_data_updates(
    raw_bucket: str, table_name: str, min_age_minutes: str
) -> list[str]:
    return _pending(raw_bucket, table_name, [datasets.SONGS, datasets.USERS], min_age_minutes)


def prepare_data_for_processing(
    ti, processed_bucket: str, table_name: str, batch_id: str, limit: str
) -> dict:
    """Claims the new streams and reference files for the daily batch (XComs pulled here as
    lists; a template would render them as text). Files a realtime run claimed meanwhile are
    left to it: the two DAGs never share a file."""
    from airflow.exceptions import AirflowSkipException

    new_streams = ti.xcom_pull(task_ids="check_for_new_streams") or []
    reference_updates = ti.xcom_pull(task_ids="check_reference_data_updates") or []
    candidates = sorted(set(new_streams) | set(reference_updates))
    claimed = [
        i["file_key"]
        for i in _ledger(table_name).claim(batch_id, int(limit), [], candidates, _lease(ti))
    ]
    if not claimed:
        raise AirflowSkipException("no new files: nothing to process today")
    publish_claimed(ti, processed_bucket, batch_id, claimed)
    return {"files": claimed}


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

    return aws.pipeline_tables(DynamoDBHook(aws_conn_id=AWS_CONN_ID).conn.meta.client, table_name)


def update_processed_files(processed_bucket: str, batch_id: str, attempts: int = 5) -> int:
    """Adds the batch's files to processed_streams.json with a conditional write (If-Match on the
    ETag read), retrying on conflict, so a concurrent writer's update is never lost."""
    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    summary = json.loads(hook.read_key(layout.etl_summary_key(batch_id), processed_bucket))
    client = hook.get_conn()
    for _attempt in range(attempts):
        state, etag = _state(hook, processed_bucket)
        for file_id in summary["files"]:  # s3://bucket/key#version: a re-upload is new
            state["processed"][file_id] = {"batch_id": batch_id}
        try:
            client.put_object(
                Bucket=processed_bucket,
                Key=config.STATE_KEY,
                IfMatch=etag,
                Body=json.dumps(state, indent=1, sort_keys=True).encode(),
                ContentType="application/json",
            )
            return len(summary["files"])
        except client.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise
            log.warning("processed_streams.json changed while updating it; retrying")
    raise RuntimeError(f"could not update {config.STATE_KEY} after {attempts} attempts")


# ------------------------------------------------------------------ sweeper (music_streaming_sweeper)
def _run_state(ti, dag_id: str, run_id: str) -> str | None:
    """A DAG run's state, or None when Airflow has no such run (deleted)."""
    if not ti.get_dr_count(dag_id=dag_id, run_ids=[run_id]):
        return None
    state = ti.get_dagrun_state(dag_id=dag_id, run_id=run_id)
    return str(getattr(state, "value", state))  # DagRunState.RUNNING -> "running"


def sweep_stranded_files(ti, raw_bucket: str, table_name: str, attempts_allowed: str) -> dict:
    """Takes back the files of dead runs (failed, ended, deleted, or past their lease): each
    goes back to RECEIVED for a smaller batch, or to FAILED once its attempts are used; drops a
    trigger flag no waiting run holds; records uploads no event reported. Publishes
    Pipeline/Recovery metrics (FailedFiles: files that failed for good in this sweep)."""
    import time

    from music_streaming import ledger as file_ledger
    from music_streaming import recovery

    ledger = _ledger(table_name)
    held = ledger.scan_states(file_ledger.HELD)
    runs = {recovery.run_of(i) for i in held} - {None}
    states = {run: _run_state(ti, *run) for run in sorted(runs)}
    outcome = {file_ledger.RECEIVED: [], file_ledger.FAILED: [], "moved_on": []}
    for batch in recovery.stranded_batches(held, states, time.time(), LEASE_SECONDS):
        log.warning(
            "batch %s: %d file(s) stranded: %s", batch.batch_id, len(batch.items), batch.reason
        )
        for item in batch.items:
            state = ledger.release(
                item, batch.reason, int(attempts_allowed), len(batch.items), batch.suspect
            )
            outcome.get(state, outcome["moved_on"]).append(item["file_key"])
    flag = ledger.run_request()
    if flag:
        state = _run_state(ti, config.REALTIME_DAG_ID, str(flag["run_id"]))
        why = recovery.stale_run_request(flag, state, time.time(), config.RUN_REQUEST_GRACE_SECONDS)
        if why:
            log.warning("dropping the realtime trigger flag: %s", why)
            ledger.release_run_request(str(flag["run_id"]))
    s3 = S3Hook(aws_conn_id=AWS_CONN_ID).get_conn()
    found = file_ledger.discover(s3, ledger, raw_bucket, config.SWEEP_MIN_FILE_AGE_SECONDS)
    if found:
        log.warning("recorded %d upload(s) no event reported", len(found))
    _put_recovery_metrics(
        {
            "StrandedFiles": len(outcome[file_ledger.RECEIVED]) + len(outcome[file_ledger.FAILED]),
            "FailedFiles": len(outcome[file_ledger.FAILED]),
            "UnreportedUploads": len(found),
        }
    )
    return {
        "released": outcome[file_ledger.RECEIVED],
        "failed": outcome[file_ledger.FAILED],
        "discovered": [v.file_id for v in found],
    }


def start_run_if_idle(ti, raw_bucket: str, table_name: str, run_id: str) -> dict | bool:
    """The sweeper's trigger: a realtime run for waiting files only when no realtime run is
    queued or running (an active run starts the next itself when it ends)."""
    active = ti.get_dr_count(dag_id=config.REALTIME_DAG_ID, states=["queued", "running"])
    if active:
        log.info("%d realtime run(s) active: the last one takes what waits", active)
        return False
    return request_next_batch(raw_bucket, table_name, run_id)


def _put_recovery_metrics(values: dict) -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    cloudwatch = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="cloudwatch").get_conn()
    aws.put_metrics(cloudwatch, config.RECOVERY_METRICS_NAMESPACE, values)
