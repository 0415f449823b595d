"""IAM in the emulator's ``enforce`` mode, with the template's roles as bootstrap loads them: a
session of a role is refused (AccessDenied, as AWS answers) exactly the call a grant removed from a
copy of the template allowed, in MiniStack's services and in the local Glue API, and the refusal
is recorded for ``scripts/iam-check``."""

from __future__ import annotations

import copy
import json
import threading
from http.server import ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.core import emulator
from devstack.provision import iam_roles
from devstack.runtime import stack as local_stack
from devstack.runtime.stack import free_port
from devstack.services import http_api
from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import responses as glue_responses
from devstack.services.glue.server import create_backend
from music_streaming import aws, config

pytestmark = pytest.mark.integration

SETTINGS = config.settings()
TRACKER = config.file_tracker_table(str(SETTINGS["dynamodb_table_name"]))


def without(template: dict, logical: str, action: str) -> dict:
    """A copy of the template whose role ``logical`` no longer grants ``action``."""
    narrowed = copy.deepcopy(template)
    for policy in narrowed["Resources"][logical]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement.get("Action") if isinstance(statement, dict) else None
            if isinstance(actions, list) and action in actions:
                actions.remove(action)
    return narrowed


def session(cfg, role: str) -> dict:
    return emulator.assume_role(cfg.client("sts"), emulator.local_role_arn(role), "test")


def give_roles(cfg, template: dict) -> None:
    """The template's roles (or a narrowed copy's) in the emulator, as bootstrap creates them."""
    iam_roles.ensure_roles(cfg.client("iam"), template, iam_roles.local_context(SETTINGS, template))


def as_role(cfg, logical: str, service: str, endpoint: str | None = None):
    """A client of ``service`` acting as a session of the template's role ``logical``."""
    return boto3.client(
        service,
        endpoint_url=endpoint or cfg.endpoint,
        region_name=cfg.region,
        **session(cfg, emulator.LOCAL_ROLE_NAMES[logical]),
    )


def test_a_grant_removed_from_the_template_is_refused_and_recorded(enforcing_endpoint):
    cfg = enforcing_endpoint
    template = iam_roles.load_template()
    aws.pipeline_tables(cfg.client("dynamodb"), str(SETTINGS["dynamodb_table_name"]))
    lambda_role = emulator.LOCAL_ROLE_NAMES["TriggerDagRole"]
    give_roles(cfg, without(template, "TriggerDagRole", "dynamodb:PutItem"))
    table = cfg.resource("dynamodb").Table(TRACKER)
    as_lambda = boto3.resource(
        "dynamodb", endpoint_url=cfg.endpoint, region_name=cfg.region, **session(cfg, lambda_role)
    ).Table(TRACKER)
    with pytest.raises(ClientError) as refused:
        as_lambda.put_item(Item={"file_key": "f1"})
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    as_lambda.delete_item(Key={"file_key": "f1"})  # its other grant stands

    give_roles(cfg, template)  # the template as it is: allowed again
    as_lambda.put_item(Item={"file_key": "f1"})
    assert table.get_item(Key={"file_key": "f1"})["Item"] == {"file_key": "f1"}

    recorded = [json.loads(line) for line in cfg.iam_audit_log.read_text().splitlines()]
    puts = [r["decision"] for r in recorded if r["action"] == "dynamodb:PutItem"]
    assert puts == ["ImplicitDeny", "Allow"]
    assert all(lambda_role in r["principal"] for r in recorded)


def test_the_local_glue_api_refuses_a_role_what_its_policy_does_not_grant(
    enforcing_endpoint, tmp_path
):
    cfg = enforcing_endpoint
    give_roles(cfg, iam_roles.load_template())
    guard = http_api.Guard(
        "glue",
        cfg.region,
        (emulator.LOCAL_SECRET_KEY,),
        identity=http_api.Identity(cfg.endpoint),
        authorize_calls=True,
    )
    server = ThreadingHTTPServer(
        ("127.0.0.1", free_port()),
        glue_responses.handler_class(
            create_backend(tmp_path, cfg.endpoint), glue_catalog.Catalog(tmp_path), guard
        ),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        as_mwaa = as_role(cfg, "MwaaExecutionRole", "glue", url)
        job = str(SETTINGS["validation_job_name"])
        with pytest.raises(as_mwaa.exceptions.EntityNotFoundException):
            as_mwaa.get_job(JobName=job)  # allowed: glue:GetJob on the pipeline's jobs
        with pytest.raises(ClientError) as refused:
            as_mwaa.delete_job(JobName=job)  # never granted
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "glue:DeleteJob" in refused.value.response["Error"]["Message"]
    finally:
        server.shutdown()


def test_a_role_session_outlives_an_emulator_restart(enforcing_endpoint):
    """As AWS's sessions do: a Glue run or an Airflow task holding one keeps working after the
    emulator restarts (MiniStack alone forgets them)."""
    cfg = enforcing_endpoint
    give_roles(cfg, iam_roles.load_template())
    credentials = session(cfg, emulator.LOCAL_ROLE_NAMES["TriggerDagRole"])
    ministack = local_stack.component(cfg, "ministack")
    local_stack.stop([ministack], cfg)
    local_stack.start_and_wait(ministack, cfg, 30)
    as_lambda = boto3.resource(
        "dynamodb", endpoint_url=cfg.endpoint, region_name=cfg.region, **credentials
    ).Table(TRACKER)
    as_lambda.put_item(Item={"file_key": "after-restart"})
    with pytest.raises(ClientError) as refused:  # and the restarted emulator still enforces
        as_lambda.scan()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_missing_object_is_404_only_to_a_role_allowed_to_list_the_bucket(enforcing_endpoint):
    """S3's rule (GetObject, HeadObject and GetObjectAttributes references): without s3:ListBucket
    on the bucket, reading a key that does not exist is refused 403 AccessDenied, not 404, and the
    ListBucket check is recorded for ``scripts/iam-check``."""
    cfg = enforcing_endpoint
    template = iam_roles.load_template()
    archive = str(SETTINGS["archive_bucket"])
    cfg.client("s3").create_bucket(Bucket=archive)
    give_roles(cfg, without(template, "GlueJobRole", "s3:ListBucket"))
    as_glue = as_role(cfg, "GlueJobRole", "s3")
    with pytest.raises(ClientError) as refused:
        as_glue.head_object(Bucket=archive, Key="archive/missing.csv")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as refused:
        as_glue.get_object(Bucket=archive, Key="archive/missing.csv")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    give_roles(cfg, template)  # the template as it is: ListBucket granted
    assert aws.head(as_glue, archive, "archive/missing.csv") is None  # 404: not there
    with pytest.raises(as_glue.exceptions.NoSuchKey):
        as_glue.get_object(Bucket=archive, Key="archive/missing.csv")

    recorded = [json.loads(line) for line in cfg.iam_audit_log.read_text().splitlines()]
    lists = [
        r["decision"]
        for r in recorded
        if r["action"] == "s3:ListBucket" and r["resource"] == f"arn:aws:s3:::{archive}"
    ]
    assert lists == ["ImplicitDeny", "ImplicitDeny", "Allow", "Allow"]


def test_a_raw_version_deleted_before_validation_reads_as_gone_to_the_glue_role(
    enforcing_endpoint,
):
    """Validation reports a version no longer in raw (NoSuchVersion or 404) instead of failing
    its run: with the template's grants the Glue role gets that answer, not AccessDenied."""
    cfg = enforcing_endpoint
    give_roles(cfg, iam_roles.load_template())
    raw = str(SETTINGS["raw_data_bucket"])
    s3 = cfg.client("s3")
    s3.create_bucket(Bucket=raw)
    s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=raw, Key="streams/gone.csv", Body=b"a\n")["VersionId"]
    s3.delete_object(Bucket=raw, Key="streams/gone.csv", VersionId=version)
    as_glue = as_role(cfg, "GlueJobRole", "s3")
    with pytest.raises(ClientError) as gone:
        as_glue.get_object(Bucket=raw, Key="streams/gone.csv", VersionId=version)
    assert gone.value.response["Error"]["Code"] in ("NoSuchKey", "NoSuchVersion", "404")
