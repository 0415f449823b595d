"""``scripts/deploy.sh --target aws``'s AWS path driven against the emulator's S3 and CloudFormation
(only the endpoint differs): the artifacts bucket, the artifacts, the template under its content's
key, and a change set that names it by TemplateURL; as far as the emulator's resource types allow.
MiniStack lacks ``EMULATOR_LACKS``; the template without them creates completely."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from emulators import own_emulator

from devstack.core import emulator, paths
from devstack.provision import deploy
from music_streaming import config

pytestmark = pytest.mark.integration

# Resource types of infra/template.json that MiniStack's CloudFormation does not know.
EMULATOR_LACKS = {"AWS::Glue::SecurityConfiguration"}
SETTINGS = config.settings()


@pytest.fixture(scope="module")
def emulator_cfg(tmp_path_factory):
    """An emulator of its own (the deploy creates the pipeline's buckets and tables)."""
    with own_emulator(tmp_path_factory.mktemp("deploy"), "off") as cfg:
        yield cfg


def without_lacking_types(template: dict) -> dict:
    gone = {k for k, r in template["Resources"].items() if r["Type"] in EMULATOR_LACKS}

    def strip(node):
        if isinstance(node, dict):
            return {
                k: strip(v)
                for k, v in node.items()
                if not (isinstance(v, dict) and v.get("Ref") in gone)
            }
        return [strip(n) for n in node] if isinstance(node, list) else node

    resources = {k: r for k, r in template["Resources"].items() if k not in gone}
    return strip({**template, "Resources": resources})


def test_the_aws_deploy_reaches_cloudformation_by_template_url(emulator_cfg):
    env = {
        **os.environ,
        **emulator.aws_env(emulator_cfg.endpoint, emulator_cfg.region),
    }
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "deploy", "--target", "aws"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # CloudFormation read the template from S3 (by its URL) and refused only the lacking types
    assert done.returncode != 0
    lacking = ", ".join(sorted(EMULATOR_LACKS))
    assert f"Unrecognized resource types: [{lacking}]" in done.stderr, done.stderr[-2000:]
    s3 = emulator_cfg.client("s3")
    bucket = str(SETTINGS["scripts_bucket"])
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    stored = s3.get_object(Bucket=bucket, Key=deploy.template_key())["Body"].read()
    assert stored == deploy.TEMPLATE.read_bytes()
    assert "template: https://s3." in done.stdout

    # the rest of the template, through the same change-set path, creates completely
    narrowed = json.dumps(without_lacking_types(json.loads(stored)))
    s3.put_object(Bucket=bucket, Key="cloudformation/without-lacking.json", Body=narrowed.encode())
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=emulator_cfg.endpoint,
        region_name=emulator_cfg.region,
        aws_access_key_id=emulator.LOCAL_ACCESS_KEY,
        aws_secret_access_key=emulator.LOCAL_SECRET_KEY,
    )
    url = f"https://s3.{emulator_cfg.region}.amazonaws.com/{bucket}/cloudformation/without-lacking.json"
    created = deploy.deploy_stack(
        cloudformation, deploy.STACK_NAME, deploy.stack_parameters(None), url
    )
    assert created == "created"
    resources = cloudformation.list_stack_resources(StackName=deploy.STACK_NAME)
    states = {r["ResourceStatus"] for r in resources["StackResourceSummaries"]}
    assert states == {"CREATE_COMPLETE"}
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {str(SETTINGS[s]) for s in ("raw_data_bucket", "archive_bucket")} <= buckets
