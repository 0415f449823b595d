"""The AWS deployment: the template lints, is generated from the one configuration, names and
settings equal what the local stack creates, packaged artifacts are the files the local stack runs,
and a dry run needs neither credentials nor network."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from devstack import cli
from devstack.core import paths
from devstack.provision import bootstrap, package
from music_streaming import config

TEMPLATE = json.loads((paths.ROOT / "infra" / "template.json").read_text())
RESOURCES = TEMPLATE["Resources"]
SETTINGS = config.settings()


def of_type(kind: str) -> dict[str, dict]:
    return {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == kind}


def test_cfn_lint_passes():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            str(paths.ROOT / "infra" / "template.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_is_generated_from_the_configuration():
    result = subprocess.run(
        [sys.executable, str(paths.ROOT / "infra" / "template.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_buckets_are_the_ones_the_local_stack_creates():
    buckets = of_type("AWS::S3::Bucket")
    local = {str(SETTINGS[s]) for s in bootstrap.BUCKET_SETTINGS}
    assert {b["BucketName"] for b in buckets.values()} == local - {str(SETTINGS["scripts_bucket"])}
    for props in buckets.values():
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]
    archive = next(b for b in buckets.values() if b["BucketName"] == SETTINGS["archive_bucket"])
    assert (
        archive["LifecycleConfiguration"]["Rules"][0]["Transitions"][0]["StorageClass"] == "GLACIER"
    )


def test_tables_have_the_deterministic_keys_of_the_pipeline():
    tables = {t["TableName"]: t for t in of_type("AWS::DynamoDB::Table").values()}
    for definition in (
        config.kpi_table_definition(str(SETTINGS["dynamodb_table_name"])),
        config.file_tracker_table_definition(str(SETTINGS["dynamodb_table_name"])),
    ):
        table = tables[definition["TableName"]]
        assert table["KeySchema"] == definition["KeySchema"]
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


def test_glue_jobs_equal_the_local_definitions_and_the_dag_names():
    import music_streaming_tasks as tasks

    jobs = {j["Name"]: j for j in of_type("AWS::Glue::Job").values()}
    for key in config.GLUE_JOBS:
        local = config.glue_job_definition(key, SETTINGS, bootstrap.local_role_arn("x"))
        deployed = dict(jobs[local["Name"]])
        deployed.pop("Role"), local.pop("Role")
        assert deployed == local
        assert deployed["DefaultArguments"]["--extra-py-files"] == config.package_url(SETTINGS)
        assert deployed["DefaultArguments"]["--enable-continuous-cloudwatch-log"] == "true"
        assert deployed["Timeout"] == 60
        assert deployed["ExecutionProperty"]["MaxConcurrentRuns"] == 3
        assert f"'{local['Name']}'" in tasks.var(f"{key}_job_name")
    etl = jobs[str(SETTINGS["etl_job_name"])]
    assert (etl["GlueVersion"], etl["WorkerType"], etl["NumberOfWorkers"]) == ("5.0", "G.1X", 2)


def test_lambda_and_its_notification_match_the_local_stack():
    function = of_type("AWS::Lambda::Function")["TriggerDagFunction"]
    assert function["FunctionName"] == config.LAMBDA_FUNCTION_NAME
    assert function["Environment"]["Variables"] == config.lambda_environment(SETTINGS)
    raw = next(
        b
        for b in of_type("AWS::S3::Bucket").values()
        if b["BucketName"] == SETTINGS["raw_data_bucket"]
    )
    # every upload reaches the Lambda (no suffix filter: it is case-sensitive), versioned raw
    [deployed] = raw["NotificationConfiguration"]["LambdaConfigurations"]
    [local] = bootstrap.raw_bucket_notification("arn")["LambdaFunctionConfigurations"]
    assert "Filter" not in deployed and "Filter" not in local
    assert deployed["Event"] in local["Events"]
    assert raw["VersioningConfiguration"] == {"Status": "Enabled"}


def test_lambda_role_is_scoped_to_the_one_environment():
    statements = RESOURCES["TriggerDagRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    airflow = {
        s["Action"]: s["Resource"]["Fn::Sub"]
        for s in statements
        if str(s["Action"]).startswith("airflow:")
    }
    assert airflow["airflow:CreateCliToken"].endswith(
        f":environment/{config.MWAA_ENVIRONMENT_NAME}"
    )
    assert f":role/{config.MWAA_ENVIRONMENT_NAME}/" in airflow["airflow:InvokeRestApi"]
    assert "*" not in json.dumps(
        [s["Resource"] for s in statements if "airflow" in str(s["Action"])]
    ).replace("${", "")


def test_alarms_watch_validation_and_job_failures():
    alarms = of_type("AWS::CloudWatch::Alarm").values()
    metrics = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert ("DataValidation/Metrics", "ValidationSuccess") in metrics
    assert ("ETL/Metrics", "JobFailures") in metrics
    assert RESOURCES["MwaaEnvironment"]["Condition"] == "CreateMwaa"


def test_packaged_artifacts_are_the_files_the_local_stack_runs(monkeypatch):
    files = package.artifacts(SETTINGS)
    for spec in config.GLUE_JOBS.values():
        assert (
            files[f"scripts/{spec['script']}"]
            == (paths.JOBS_DIR / str(spec["script"])).read_bytes()
        )
    assert hashlib.sha256(files["scripts/music_streaming.zip"]).hexdigest() == package.sha256(
        package.build_package_zip()
    )
    with zipfile.ZipFile(io.BytesIO(files[package.lambda_key()])) as archive:
        assert (
            archive.read("lambda_function.py")
            == (paths.LAMBDA_DIR / "lambda_function.py").read_bytes()
        )
    for path in paths.DAGS_DIR.glob("*.py"):
        assert files[f"dags/{path.name}"] == path.read_bytes()

    class RecordingS3:
        class exceptions:
            ClientError = KeyError

        def __init__(self):
            self.puts = {}

        def head_object(self, Bucket, Key):
            raise KeyError(Key)

        def put_object(self, Bucket, Key, Body):
            self.puts[Key] = Body

    s3 = RecordingS3()
    bootstrap.ensure_artifacts(s3, SETTINGS)
    assert s3.puts == {k: v for k, v in files.items() if k.startswith("scripts/")}


def test_dry_run_for_aws_needs_no_credentials_and_no_network(monkeypatch, capsys):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

    def no_network(*args, **kwargs):
        raise AssertionError("a dry run opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert cli.main(["deploy", "--target", "aws", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would create s3://" in out and package.lambda_key() in out


def test_mwaa_requirements_match_what_installs_with_airflow():
    assert metadata.version("apache-airflow") == "3.3.2"
    lines = [
        line.strip()
        for line in (paths.ROOT / "airflow" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines, "requirements.txt is empty"
    for line in lines:
        name, _, version = line.partition("==")
        assert version, f"{line} is not pinned"
        assert metadata.version(name) == version, f"{name} installs as {metadata.version(name)}"


@pytest.mark.parametrize("name", ["cfn-lint", "check-jsonschema"])
def test_linters_are_pinned_dev_dependencies(name):
    assert f'"{name}==' in (paths.ROOT / "pyproject.toml").read_text()
