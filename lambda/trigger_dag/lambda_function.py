"""Lambda ``trigger_dag_lambda``: turns S3 object-created events into runs of the Airflow DAG.

For every record whose (URL-decoded) key is a ``.csv`` under streams/, songs/ or users/, it builds
``batch_id = batch-<bucket>-<key with / as ->-<event time>`` (safe as an Airflow run id) and starts
the DAG through MWAA with that batch_id as the run id, so a retried event cannot start a second run
(the API answers 409, which counts as done). Other keys are logged and ignored. Errors are logged
with the batch_id and raised after all records were tried, so Lambda retries the event.

Environment: MWAA_ENVIRONMENT_NAME, DAG_ID, AWS_REGION (default us-east-1),
TRIGGER_METHOD = rest_api (default, mwaa:InvokeRestApi) | cli (CreateCliToken + /aws_mwaa/cli),
MWAA_WEBSERVER_SCHEME (cli only, default https).
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import shlex
import urllib.request
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger()
log.setLevel(logging.INFO)

DATASET_PREFIXES = ("streams/", "songs/", "users/")
_UNSAFE_RUN_ID_CHARS = re.compile(r"[^A-Za-z0-9_.~:+-]")
MAX_RUN_ID_LENGTH = 250


class TriggerError(RuntimeError):
    pass


def is_pipeline_input(key: str) -> bool:
    return key.startswith(DATASET_PREFIXES) and key.lower().endswith(".csv")


def event_timestamp(record: dict) -> str:
    """The event's own time (so a retried event maps to the same batch), e.g. 20240601T120000123Z."""
    raw = record.get("eventTime")
    moment = (datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw
              else datetime.now(timezone.utc))
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S") + \
        f"{moment.microsecond // 1000:03d}Z"


def batch_id_for(bucket: str, key: str, timestamp: str) -> str:
    batch_id = _UNSAFE_RUN_ID_CHARS.sub("-", f"batch-{bucket}-{key.replace('/', '-')}-{timestamp}")
    if len(batch_id) > MAX_RUN_ID_LENGTH:  # keep the distinctive end: key tail and time
        batch_id = "batch-" + batch_id[-(MAX_RUN_ID_LENGTH - 6):]
    return batch_id


def mwaa_client(region: str):
    # Against a custom endpoint botocore would prefix the host ("env.<host>"); AWS needs the prefix.
    custom = os.environ.get("AWS_ENDPOINT_URL_MWAA") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("mwaa", region_name=region,
                        config=Config(inject_host_prefix=False) if custom else None)


def trigger_rest_api(mwaa, environment: str, dag_id: str, batch_id: str, conf: dict) -> str:
    """'triggered' or 'duplicate' (run id exists); raises TriggerError otherwise."""
    try:
        reply = mwaa.invoke_rest_api(
            Name=environment, Path=f"/dags/{dag_id}/dagRuns", Method="POST",
            Body={"dag_run_id": batch_id, "logical_date": None, "conf": conf})
    except ClientError as exc:
        status = exc.response.get("RestApiStatusCode")
        if status == 409:
            return "duplicate"
        raise TriggerError(f"InvokeRestApi failed ({status or exc.response['Error']['Code']}): "
                           f"{exc.response.get('RestApiResponse') or exc}") from exc
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
        f"{scheme}://{token['WebServerHostname']}/aws_mwaa/cli", data=command.encode(),
        method="POST", headers={"Authorization": f"Bearer {token['CliToken']}",
                                "Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raise TriggerError(f"/aws_mwaa/cli answered {exc.code}: {exc.read()[:500]!r}") from exc
    stdout = base64.b64decode(body.get("stdout", "")).decode(errors="replace")
    stderr = base64.b64decode(body.get("stderr", "")).decode(errors="replace")
    if "already exists" in stderr or "already exists" in stdout:
        return "duplicate"
    if batch_id not in stdout:
        raise TriggerError(f"dags trigger did not report the run: stdout={stdout[-500:]!r} "
                           f"stderr={stderr[-500:]!r}")
    return "triggered"


TRIGGERS = {"rest_api": trigger_rest_api, "cli": trigger_cli}


def lambda_handler(event, context):
    environment = os.environ["MWAA_ENVIRONMENT_NAME"]
    dag_id = os.environ["DAG_ID"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    method = os.environ.get("TRIGGER_METHOD", "rest_api")
    if method not in TRIGGERS:
        raise ValueError(f"TRIGGER_METHOD must be one of {sorted(TRIGGERS)}, not {method!r}")
    records = event.get("Records") or []
    if not records:
        log.info("no records in event (%s): nothing to do", event.get("Event", "unknown event"))
    mwaa = mwaa_client(region) if records else None
    outcome: dict[str, list[str]] = {"triggered": [], "duplicate": [], "ignored": [], "failed": []}
    for record in records:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        if not is_pipeline_input(key):
            log.info("ignoring s3://%s/%s: not a .csv under %s", bucket, key,
                     ", ".join(DATASET_PREFIXES))
            outcome["ignored"].append(key)
            continue
        batch_id = batch_id_for(bucket, key, event_timestamp(record))
        conf = {"batch_id": batch_id, "raw_data_bucket": bucket, "keys": [key],
                "event_time": record.get("eventTime")}
        try:
            result = TRIGGERS[method](mwaa, environment, dag_id, batch_id, conf)
        except Exception as exc:  # noqa: BLE001 - every record is tried before raising
            log.error("batch_id=%s: could not trigger %s for s3://%s/%s: %s", batch_id, dag_id,
                      bucket, key, exc)
            outcome["failed"].append(batch_id)
            continue
        log.info("batch_id=%s: %s run of %s for s3://%s/%s via %s", batch_id,
                 "started" if result == "triggered" else "already had a", dag_id, bucket, key,
                 method)
        outcome[result].append(batch_id)
    if outcome["failed"]:
        raise TriggerError(f"could not trigger {len(outcome['failed'])} batch(es): "
                           f"{', '.join(outcome['failed'])}")
    return outcome
