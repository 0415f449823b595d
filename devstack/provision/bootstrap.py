"""Creates the pipeline's resources on a local stack from the one configuration: buckets, tables,
Glue scripts and jobs, the Lambda and the raw bucket's notification, Airflow Variables.

Idempotent: what exists and matches is left as it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from devstack.core import emulator, local_tls
from devstack.core.airflow_api import Airflow
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.provision import iam_roles, package
from music_streaming import aws, catalog, config

BUCKET_SETTINGS = (
    "raw_data_bucket",
    "processed_bucket",
    "quarantine_bucket",
    "archive_bucket",
    "scripts_bucket",
)


# The buckets whose objects the pipeline names by version: raw (each upload tracked as its own
# version), the archive and quarantine (copies read, tagged and verified by the version written,
# so a write over a key cannot change them). The deployed template versions every bucket.
VERSIONED_BUCKET_SETTINGS = ("raw_data_bucket", "archive_bucket", "quarantine_bucket")


def ensure_buckets(s3, settings: dict) -> list[str]:
    """The buckets, versioned where the pipeline names versions; the ones created."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for name in (str(settings[s]) for s in BUCKET_SETTINGS):
        if name not in existing:
            s3.create_bucket(Bucket=name)
            created.append(name)
    for name in (str(settings[s]) for s in VERSIONED_BUCKET_SETTINGS):
        if s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return created


def ensure_storage(s3, dynamodb, settings: dict) -> dict:
    """Buckets and both DynamoDB tables; returns what was created."""
    return {
        "buckets": ensure_buckets(s3, settings),
        "tables": aws.pipeline_tables(dynamodb, str(settings["dynamodb_table_name"])),
    }


# ------------------------------------------------------------------------ the local stack
def ensure_artifacts(s3, settings: dict) -> list[str]:
    """The Glue scripts and package in the artifacts bucket: the very bytes a deploy to AWS
    uploads (package.artifacts), uploaded when missing or different."""
    bucket = str(settings["scripts_bucket"])
    scripts = {
        k: v for k, v in package.artifacts(settings).items() if k.startswith(config.SCRIPTS_PREFIX)
    }
    return [f"s3://{bucket}/{key}" for key in package.upload_changed(s3, bucket, scripts)]


def _comparable(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k not in ("Name", "CreatedOn", "LastModifiedOn")}


def ensure_glue_jobs(glue, settings: dict) -> dict[str, str]:
    changes = {}
    for key in config.GLUE_JOBS:
        definition = config.glue_job_definition(
            key, settings, emulator.local_role_arn(emulator.LOCAL_ROLE_NAMES["GlueJobRole"])
        )
        try:
            current = glue.get_job(JobName=definition["Name"])["Job"]
        except glue.exceptions.EntityNotFoundException:
            glue.create_job(**definition)
            changes[definition["Name"]] = "created"
            continue
        wanted = _comparable(definition)
        if {k: current.get(k) for k in wanted} != wanted:
            glue.update_job(JobName=definition["Name"], JobUpdate=_comparable(definition))
            changes[definition["Name"]] = "updated"
    return changes


def ensure_catalog(glue, settings: dict) -> dict[str, str]:
    """The Data Catalog database and its tables (catalog.py), created or brought up to date;
    partitions are the ETL job's."""
    changes = {}
    try:
        glue.create_database(DatabaseInput=catalog.database_input())
        changes[catalog.DATABASE] = "created"
    except glue.exceptions.AlreadyExistsException:
        pass
    for table in catalog.TABLES:
        wanted = catalog.table_input(table, str(settings["processed_bucket"]))
        name = f"{catalog.DATABASE}.{table}"
        try:
            current = glue.get_table(DatabaseName=catalog.DATABASE, Name=table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=catalog.DATABASE, TableInput=wanted)
            changes[name] = "created"
            continue
        if {k: current.get(k) for k in wanted} != wanted:
            glue.update_table(DatabaseName=catalog.DATABASE, TableInput=wanted)
            changes[name] = "updated"
    return changes


def ensure_lambda(lambda_client, settings: dict, environment: dict[str, str]) -> str:
    code = package.lambda_zip()
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    name = config.LAMBDA_FUNCTION_NAME
    try:
        current = lambda_client.get_function(FunctionName=name)["Configuration"]
    except lambda_client.exceptions.ResourceNotFoundException:
        lambda_client.create_function(
            FunctionName=name,
            Runtime=config.LAMBDA_RUNTIME,
            Handler=config.LAMBDA_HANDLER,
            Role=emulator.local_role_arn(emulator.LOCAL_ROLE_NAMES["TriggerDagRole"]),
            Code={"ZipFile": code},
            Timeout=config.LAMBDA_TIMEOUT_SECONDS,
            Environment={"Variables": environment},
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        return "created"
    result = "unchanged"
    if current.get("CodeSha256") != sha:
        lambda_client.update_function_code(FunctionName=name, ZipFile=code)
        result = "updated"
    if current.get("Environment", {}).get("Variables") != environment:
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": environment}
        )
        result = "updated"
    return result


def raw_bucket_notification(function_arn: str) -> dict:
    """Every upload reaches the Lambda, unfiltered: S3's suffix filter is case-sensitive (a
    ``.CSV`` would never trigger) and a filtered-out key would sit in raw unreported. The Lambda
    records each upload in the file ledger, as RECEIVED or IGNORED with the reason."""
    return {
        "LambdaFunctionConfigurations": [
            {
                "Id": "trigger-dag",
                "LambdaFunctionArn": function_arn,
                "Events": ["s3:ObjectCreated:*"],
            }
        ]
    }


def ensure_notification(s3, lambda_client, settings: dict) -> bool:
    arn = lambda_client.get_function(FunctionName=config.LAMBDA_FUNCTION_NAME)["Configuration"][
        "FunctionArn"
    ]
    wanted = raw_bucket_notification(arn)
    bucket = str(settings["raw_data_bucket"])
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    if current.get("LambdaFunctionConfigurations") == wanted["LambdaFunctionConfigurations"]:
        return False
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
    return True


def airflow_variables(settings: dict) -> dict[str, str]:
    return {
        name: json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        for name, value in settings.items()
        if name in config.VARIABLE_DEFAULTS
    }


def ensure_variable(airflow, key: str, value: str, attempts: int = 5) -> bool:
    """Sets one Variable if it differs; True if it changed. A 5xx (SQLite busy under load, right
    after start) is retried from a fresh read, so a write that did land is not repeated."""
    for attempt in range(attempts):
        status, current = airflow.call("GET", f"/variables/{key}", None, None)
        if status == 200 and current.get("value") == value:
            return attempt > 0
        if status == 200:
            status, reply = airflow.call(
                "PATCH", f"/variables/{key}", None, {"key": key, "value": value}
            )
        elif status == 404:
            status, reply = airflow.call("POST", "/variables", None, {"key": key, "value": value})
        else:
            reply = current
        if status < 300:
            return True
        if status < 500:
            break
        time.sleep(1 + attempt)
    raise RuntimeError(f"could not set Variable {key}: {status} {reply}")


def ensure_airflow_variables(airflow, settings: dict) -> list[str]:
    return [
        key
        for key, value in airflow_variables(settings).items()
        if ensure_variable(airflow, key, value)
    ]


def bootstrap_aws(
    client: Callable[[str], Any],
    settings: dict,
    mwaa_endpoint: str | None,
    mwaa_web_ca: Path | None = None,
) -> dict:
    """Storage, artifacts, the Lambda and the raw bucket's notification, through ``client``
    (service name -> boto3 client of the target). With ``mwaa_endpoint`` the Lambda calls the local
    MWAA API, whose web server speaks HTTPS under the stack's own CA (``mwaa_web_ca``), else HTTP."""
    s3, lambda_client = client("s3"), client("lambda")
    template = iam_roles.load_template()
    # first: the Lambda's role must exist before the function (the emulator checks, as AWS does)
    roles = iam_roles.ensure_roles(
        client("iam"), template, iam_roles.local_context(settings, template)
    )
    environment = dict(config.lambda_environment(settings))
    if mwaa_endpoint:
        environment["AWS_ENDPOINT_URL_MWAA"] = mwaa_endpoint
        if mwaa_web_ca:
            environment["SSL_CERT_FILE"] = str(mwaa_web_ca)
        else:
            environment["MWAA_WEBSERVER_SCHEME"] = "http"
    report = {"iam_roles": roles, **ensure_storage(s3, client("dynamodb"), settings)}
    report["artifacts"] = ensure_artifacts(s3, settings)
    report["lambda"] = ensure_lambda(lambda_client, settings, environment)
    report["notification"] = ensure_notification(s3, lambda_client, settings)
    return report


def bootstrap_stack(cfg: StackConfig, settings: dict | None = None) -> dict:
    """Everything the native local stack needs, from the one configuration; idempotent."""
    settings = config.settings(settings)
    report = bootstrap_aws(cfg.client, settings, cfg.mwaa_endpoint, local_tls.files(cfg.tls_dir).ca)
    report["glue_jobs"] = ensure_glue_jobs(cfg.client("glue"), settings)
    report["glue_catalog"] = ensure_catalog(cfg.client("glue"), settings)
    report["variables"] = ensure_airflow_variables(
        Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file), settings
    )
    return report


COMPOSE_PARTS = ("aws", "glue", "variables")


def bootstrap_part(part: str, mwaa_endpoint: str | None) -> dict:
    """One part for the Compose stack, where each runs in its own container, against the
    endpoints its environment names (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_GLUE): ``aws`` (the
    LocalStack init hook), ``glue`` (job definitions, the Data Catalog), ``variables`` (the JSON for
    ``airflow variables import``)."""
    import boto3

    settings = config.settings()
    region = str(settings["aws_region"])
    if part == "aws":
        return bootstrap_aws(
            lambda service: boto3.client(service, region_name=region), settings, mwaa_endpoint
        )
    if part == "glue":
        glue = boto3.client("glue", region_name=region)
        return {**ensure_glue_jobs(glue, settings), **ensure_catalog(glue, settings)}
    return airflow_variables(settings)
