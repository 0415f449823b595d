"""Lambda ``trigger_dag_lambda``: records S3 uploads in the file ledger and starts the Airflow DAG.

Every record (key URL-decoded) becomes one file version in the ledger: RECEIVED when it is a CSV
under streams/, songs/ or users/ (any case of ``.csv``), else IGNORED with the reason (reported by
``scripts/status`` and the metric ``Pipeline/Ledger IgnoredFiles``). Then, unless a realtime run is
already waiting (the ledger's run flag), it starts one through MWAA with
``batch_id = batch-<bucket>-<key with / as ->-<event time>`` as run id: that run claims this file and
every other pending one, so a burst of uploads becomes a few runs, not one per file. The calls have
short timeouts: whatever Airflow's load, the Lambda answers in seconds, and a file whose trigger
failed stays RECEIVED for the next run (a finishing run starts another while files are pending) or
the sweeper DAG, which starts a run within minutes. Only a newly recorded upload takes the flag: a
duplicate event, or Lambda's retry of an invocation that recorded it, never does (a failed
trigger is raised after the flag is released, so it shows in the function's errors).

Environment: MWAA_ENVIRONMENT_NAME, DAG_ID, FILE_LEDGER_TABLE, AWS_REGION (default us-east-1),
TRIGGER_METHOD = rest_api (default, mwaa:InvokeRestApi) | cli (CreateCliToken + /aws_mwaa/cli),
MWAA_WEBSERVER_SCHEME (cli only, default https).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import urllib.request
from datetime import datetime, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from music_streaming import config, datasets, layout
from music_streaming import ledger as file_ledger

# Lambda's runtime gives the root logger a handler; where none is (an emulator's worker, whose
# stderr becomes the invocation's log) add one, so INFO lines reach CloudWatch Logs as in AWS.
logging.basicConfig(format="%(levelname)s %(message)s")
log = logging.getLogger()
log.setLevel(logging.INFO)
logging.getLogger("botocore").setLevel(logging.WARNING)  # not one line per client created

batch_id_for = layout.batch_id_for


class TriggerError(RuntimeError):
    pass


def event_timestamp(record: dict) -> str:
    """The event's own time (so a retried event maps to the same batch), e.g. 20240601T120000123Z."""
    raw = record.get("eventTime")
    moment = (
        datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else datetime.now(timezone.utc)
    )
    if moment.tzinfo is None:  # as the ledger reads it: a bare time is UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return (
        moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
        + f"{moment.microsecond // 1000:03d}Z"
    )


# Fail fast: a slow Airflow must not hold the Lambda (the file is safe in the ledger).
MWAA_TIMEOUTS = {"connect_timeout": 3, "read_timeout": 10, "retries": {"max_attempts": 1}}


def mwaa_client(region: str):
    # Against a custom endpoint botocore would prefix the host ("env.<host>"); AWS needs the prefix.
    custom = os.environ.get("AWS_ENDPOINT_URL_MWAA") or os.environ.get("AWS_ENDPOINT_URL")
    settings = Config(**MWAA_TIMEOUTS, **({"inject_host_prefix": False} if custom else {}))
    return boto3.client("mwaa", region_name=region, config=settings)


def trigger_rest_api(mwaa, environment: str, dag_id: str, batch_id: str, conf: dict) -> str:
    """'triggered' or 'duplicate' (run id exists); raises TriggerError otherwise."""
    try:
        reply = mwaa.invoke_rest_api(
            Name=environment,
            Path=f"/dags/{dag_id}/dagRuns",
            Method="POST",
            Body={"dag_run_id": batch_id, "logical_date": None, "conf": conf},
        )
    except ClientError as exc:
        status = exc.response.get("RestApiStatusCode")
        if status == 409:
            return "duplicate"
        raise TriggerError(
            f"InvokeRestApi failed ({status or exc.response['Error']['Code']}): "
            f"{exc.response.get('RestApiResponse') or exc}"
        ) from exc
    status = reply.get("RestApiStatusCode")
    if status == 409:
        return "duplicate"
    if not status or status >= 300:
        raise TriggerError(f"InvokeRestApi answered {status}: {reply.get('RestApiResponse')}")
    return "triggered"


def trigger_cli(mwaa, environment: str, dag_id: str, batch_id: str, conf: dict) -> str:
    """The original design's path: a CLI token and ``dags trigger`` on /aws_mwaa/cli."""
    token = mwaa.create_cli_token(Name=environment)
    scheme = os.environ.get("MWAA_WEBSERVER_SCHEME", "https")
    command = f"dags trigger -r {shlex.quote(batch_id)} -c {shlex.quote(json.dumps(conf))} {dag_id}"
    request = urllib.request.Request(
        f"{scheme}://{token['WebServerHostname']}/aws_mwaa/cli",
        data=command.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token['CliToken']}", "Content-Type": "text/plain"},
    )
    try:
        with urllib.request.urlopen(request, timeout=MWAA_TIMEOUTS["read_timeout"]) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raise TriggerError(f"/aws_mwaa/cli answered {exc.code}: {exc.read()[:500]!r}") from exc
    stdout = base64.b64decode(body.get("stdout", "")).decode(errors="replace")
    stderr = base64.b64decode(body.get("stderr", "")).decode(errors="replace")
    if "already exists" in stderr or "already exists" in stdout:
        return "duplicate"
    if batch_id not in stdout:
        raise TriggerError(
            f"dags trigger did not report the run: stdout={stdout[-500:]!r} "
            f"stderr={stderr[-500:]!r}"
        )
    return "triggered"


TRIGGERS = {"rest_api": trigger_rest_api, "cli": trigger_cli}


def invocation(context) -> dict:
    """What names this invocation in CloudWatch Logs (kept in the ledger for scripts/trace)."""
    names = ("function_name", "aws_request_id", "log_group_name", "log_stream_name")
    return {name: str(getattr(context, name)) for name in names if getattr(context, name, None)}


def lambda_handler(event, context):
    environment = os.environ["MWAA_ENVIRONMENT_NAME"]
    dag_id = os.environ["DAG_ID"]
    region = os.environ.get("AWS_REGION", config.DEFAULT_REGION)
    method = os.environ.get("TRIGGER_METHOD", "rest_api")
    if method not in TRIGGERS:
        raise ValueError(f"TRIGGER_METHOD must be one of {sorted(TRIGGERS)}, not {method!r}")
    if not isinstance(event, dict) or not isinstance(event.get("Records", []), list):
        raise ValueError(f"not an S3 notification event: {str(event)[:200]}")
    records = event.get("Records") or []
    if not records:
        log.info("no records in event (%s): nothing to do", event.get("Event", "unknown event"))
        return {"received": [], "ignored": [], "malformed": [], "already_recorded": [], "run": None}
    ledger = file_ledger.Ledger(
        boto3.resource("dynamodb", region_name=region).Table(os.environ["FILE_LEDGER_TABLE"])
    )
    received, ignored, malformed, known = [], [], [], []
    for position, record in enumerate(records):
        try:
            version = file_ledger.version_from_event(record)
        except file_ledger.MalformedRecord as exc:
            # Nothing to record; a real upload it stood for is found by the daily DAG's discovery.
            log.error("record %d of the event skipped: %s", position, exc)
            malformed.append(str(exc))
            continue
        state, new = file_ledger.record_upload(ledger, version, invocation(context))
        where = f"s3://{version.bucket}/{version.key} (version {version.version_id})"
        if state == file_ledger.IGNORED:
            log.warning("ignoring %s: %s", where, datasets.dataset_and_problem(version.key)[1])
            ignored.append(version.key)
        else:
            log.info("%s %s", "recorded" if new else "already recorded", where)
            if new:  # a duplicate or retried event never takes the run flag again
                received.append((version, record))
            else:
                known.append(version.key)
    if ignored:
        put_ignored_metric(region, len(ignored))
    if not received:
        # already recorded: a run took them, or the sweeper starts one within its interval
        return {
            "received": [],
            "ignored": ignored,
            "malformed": malformed,
            "already_recorded": known,
            "run": None,
        }

    version, record = received[0]
    batch_id = batch_id_for(version.bucket, version.key, event_timestamp(record))
    if not ledger.request_run(batch_id, config.RUN_REQUEST_STALE_SECONDS):
        log.info(
            "batch_id=%s: a run is already waiting; it will claim %d file(s)",
            batch_id,
            len(received),
        )
        return {
            "received": [v.key for v, _ in received],
            "ignored": ignored,
            "malformed": malformed,
            "already_recorded": known,
            "run": "waiting",
        }
    conf = {
        "batch_id": batch_id,
        "raw_data_bucket": version.bucket,
        "keys": [v.key for v, _ in received],
        "files": [v.file_id for v, _ in received],
        "event_time": record.get("eventTime"),
    }
    try:
        result = TRIGGERS[method](mwaa_client(region), environment, dag_id, batch_id, conf)
    except Exception as exc:
        ledger.release_run_request(batch_id)
        log.error(
            "batch_id=%s: could not trigger %s for %s: %s (the files stay RECEIVED)",
            batch_id,
            dag_id,
            conf["keys"],
            exc,
        )
        raise TriggerError(f"could not trigger batch {batch_id}: {exc}") from exc
    log.info(
        "batch_id=%s: %s run of %s via %s",
        batch_id,
        "started" if result == "triggered" else "already had a",
        dag_id,
        method,
    )
    return {
        "received": conf["keys"],
        "ignored": ignored,
        "malformed": malformed,
        "already_recorded": known,
        "run": result,
        "batch_id": batch_id,
    }


def put_ignored_metric(region: str, count: int) -> None:
    try:
        boto3.client("cloudwatch", region_name=region).put_metric_data(
            Namespace="Pipeline/Ledger",
            MetricData=[{"MetricName": "IgnoredFiles", "Value": count, "Unit": "Count"}],
        )
    except Exception:  # monitoring must not lose the upload
        log.exception("could not publish IgnoredFiles")
