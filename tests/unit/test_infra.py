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
from devstack.core import emulator, paths
from devstack.provision import bootstrap, package
from music_streaming import catalog, config

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
    buckets = {k: b for k, b in of_type("AWS::S3::Bucket").items() if k != "AccessLogsBucket"}
    local = {str(SETTINGS[s]) for s in bootstrap.BUCKET_SETTINGS}
    assert {b["BucketName"] for b in buckets.values()} == local - {str(SETTINGS["scripts_bucket"])}
    for props in buckets.values():
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]
    archive = next(b for b in buckets.values() if b["BucketName"] == SETTINGS["archive_bucket"])
    [rule] = archive["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"][0]["StorageClass"] == "GLACIER"
    # only copies of ARCHIVED files go cold: one the ETL may still read stays readable
    assert rule["TagFilters"] == [{"Key": "pipeline-state", "Value": "archived"}]
    # an archived version whose key was written over goes cold all the same
    assert rule["NoncurrentVersionTransitions"] == rule["Transitions"]


def test_failed_files_raise_an_alarm():
    alarm = of_type("AWS::CloudWatch::Alarm")["FilesFailedAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Pipeline/Recovery", "FailedFiles")
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


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
        local = config.glue_job_definition(key, SETTINGS, emulator.local_role_arn("x"))
        deployed = dict(jobs[local["Name"]])
        deployed.pop("Role"), local.pop("Role")
        assert deployed.pop("SecurityConfiguration") == {"Ref": "GlueSecurityConfiguration"}
        assert deployed == local
        assert deployed["DefaultArguments"]["--extra-py-files"] == config.package_url(SETTINGS)
        assert deployed["DefaultArguments"]["--enable-continuous-cloudwatch-log"] == "true"
        assert deployed["Timeout"] == 60
        assert deployed["ExecutionProperty"]["MaxConcurrentRuns"] == 3
        assert f"'{local['Name']}'" in tasks.var(f"{key}_job_name")
    etl = jobs[str(SETTINGS["etl_job_name"])]
    assert (etl["GlueVersion"], etl["WorkerType"], etl["NumberOfWorkers"]) == ("5.0", "G.1X", 2)


def test_catalog_tables_are_the_local_ones_and_the_etl_role_may_register_partitions():
    tables = of_type("AWS::Glue::Table").values()
    processed = str(SETTINGS["processed_bucket"])
    assert {t["TableInput"]["Name"]: t["TableInput"] for t in tables} == {
        name: catalog.table_input(name, processed) for name in catalog.TABLES
    }
    [database] = of_type("AWS::Glue::Database").values()
    assert database["DatabaseInput"]["Name"] == catalog.DATABASE
    etl = of_type("AWS::Glue::Job")["EtlJob"]
    assert etl["DefaultArguments"]["--catalog_database"] == catalog.DATABASE
    statements = of_type("AWS::IAM::Role")["GlueJobRole"]["Policies"][0]["PolicyDocument"]
    [register] = [s for s in statements["Statement"] if "glue:BatchCreatePartition" in s["Action"]]
    assert not any("*" in a for a in register["Action"])  # no glue:* or table deletes
    assert all(
        catalog.DATABASE in json.dumps(r) or r["Fn::Sub"].endswith(":catalog")
        for r in register["Resource"]
    )
    [workgroup] = of_type("AWS::Athena::WorkGroup").values()
    results = workgroup["WorkGroupConfiguration"]["ResultConfiguration"]
    assert results["OutputLocation"] == f"s3://{processed}/{config.ATHENA_RESULTS_PREFIX}"
    assert workgroup["Name"] == config.ATHENA_WORKGROUP


def test_lambda_and_its_notification_match_the_local_stack():
    function = of_type("AWS::Lambda::Function")["TriggerDagFunction"]
    assert function["FunctionName"] == config.LAMBDA_FUNCTION_NAME
    assert function["Environment"]["Variables"] == {
        **config.lambda_environment(SETTINGS),
        "TRIGGER_METHOD": {"Ref": "TriggerMethod"},
    }
    assert TEMPLATE["Parameters"]["TriggerMethod"]["AllowedValues"] == list(config.TRIGGER_METHODS)
    import lambda_function

    assert set(lambda_function.TRIGGERS) == set(config.TRIGGER_METHODS)
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
    # CreateCliToken exists only when the trigger method is the CLI
    [conditional] = [s["Fn::If"] for s in statements if "Fn::If" in s]
    assert conditional[0] == "TriggerByCli" and conditional[2] == {"Ref": "AWS::NoValue"}
    assert TEMPLATE["Conditions"]["TriggerByCli"] == {
        "Fn::Equals": [{"Ref": "TriggerMethod"}, "cli"]
    }
    statements = [conditional[1] if "Fn::If" in s else s for s in statements]
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


def policy_statements(role: str) -> list[dict]:
    return RESOURCES[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def resources_of(statements: list[dict], action: str) -> list[str]:
    """The ARNs (Fn::Sub text) an Allow statement grants ``action`` on."""
    found = []
    for s in statements:
        actions = [s["Action"]] if isinstance(s.get("Action"), str) else s.get("Action", [])
        if s.get("Effect") == "Allow" and action in actions:
            targets = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            found += [t["Fn::Sub"] if isinstance(t, dict) else t for t in targets]
    return found


def test_every_bucket_is_versioned_logged_and_tls_only():
    buckets = of_type("AWS::S3::Bucket")
    for logical, props in buckets.items():
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical
        assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], logical
        if logical != "AccessLogsBucket":
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {
                "Ref": "AccessLogsBucket"
            } or "access-logs" in json.dumps(props["LoggingConfiguration"])
    policies = {p["Bucket"]["Ref"]: p for p in of_type("AWS::S3::BucketPolicy").values()}
    assert set(policies) == set(buckets)
    for logical, policy in policies.items():
        [deny] = [
            s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "DenyInsecureTransport"
        ]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, logical


def test_the_archive_is_write_once_for_the_glue_role():
    glue = policy_statements("GlueJobRole")
    archive_objects = f"arn:${{AWS::Partition}}:s3:::{SETTINGS['archive_bucket']}/*"
    assert archive_objects in resources_of(glue, "s3:PutObject")
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert archive_objects not in resources_of(glue, action)
    # raw versions are deleted once archived or quarantined, by version only
    assert resources_of(glue, "s3:DeleteObjectVersion") == [
        f"arn:${{AWS::Partition}}:s3:::{SETTINGS['raw_data_bucket']}/*"
    ]
    [deny] = [
        s
        for s in RESOURCES["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Principal") != "*"
    ]
    assert deny["Principal"] == {"AWS": {"Fn::GetAtt": ["GlueJobRole", "Arn"]}}
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny["Action"])
    # versioning (what keeps a verified version when its key is written over) stays on; a
    # bucket-level action matches the bucket's ARN, not its objects'
    assert {"s3:PutBucketVersioning", "s3:PutLifecycleConfiguration"} <= set(deny["Action"])
    assert [r["Fn::Sub"] for r in deny["Resource"]] == [archive_objects[:-2], archive_objects]


def test_the_glue_role_reads_archived_copies_by_version_only():
    """Reads and tags name the version validation verified; by key only HeadObject (GetObject)
    of the copy an earlier attempt may have left."""
    glue = policy_statements("GlueJobRole")
    archive_objects = f"arn:${{AWS::Partition}}:s3:::{SETTINGS['archive_bucket']}/*"
    for action in ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes"):
        assert archive_objects in resources_of(glue, action)
    assert archive_objects in resources_of(glue, "s3:PutObjectVersionTagging")
    for action in ("s3:GetObjectAttributes", "s3:PutObjectTagging"):
        assert archive_objects not in resources_of(glue, action)


def test_the_glue_role_deletes_no_quarantine_copy_no_kpi_snapshot_and_no_ledger_item():
    glue = policy_statements("GlueJobRole")
    deletable = " ".join(resources_of(glue, "s3:DeleteObject"))
    assert str(SETTINGS["quarantine_bucket"]) not in deletable
    assert "/kpis/" not in deletable and f"{SETTINGS['processed_bucket']}/*" not in deletable
    ledger = config.file_tracker_table(str(SETTINGS["dynamodb_table_name"]))
    assert not [r for r in resources_of(glue, "dynamodb:DeleteItem") if ledger in r]


def test_mwaa_reads_no_data_file_and_writes_only_its_state_and_manifests():
    mwaa = policy_statements("MwaaExecutionRole")
    readable = " ".join(resources_of(mwaa, "s3:GetObject"))
    for setting in ("raw_data_bucket", "quarantine_bucket", "archive_bucket"):
        assert str(SETTINGS[setting]) not in readable
    writable = resources_of(mwaa, "s3:PutObject")
    processed = f"arn:${{AWS::Partition}}:s3:::{SETTINGS['processed_bucket']}"
    assert sorted(writable) == [f"{processed}/manifests/*", f"{processed}/state/*"]


def test_mwaa_reads_what_it_runs_and_writes_no_code():
    mwaa = policy_statements("MwaaExecutionRole")
    scripts = str(SETTINGS["scripts_bucket"])
    writable = resources_of(mwaa, "s3:PutObject")
    assert writable and not [arn for arn in writable if scripts in arn]
    readable = resources_of(mwaa, "s3:GetObject")
    assert f"arn:${{AWS::Partition}}:s3:::{scripts}/dags/*" in readable
    assert f"arn:${{AWS::Partition}}:s3:::{scripts}/requirements.txt" in readable
    assert f"arn:${{AWS::Partition}}:s3:::{scripts}/*" not in readable  # not the whole bucket
    deletable = [arn for arn in resources_of(mwaa, "s3:DeleteObject") if scripts in arn]
    assert deletable == [f"arn:${{AWS::Partition}}:s3:::{scripts}/{config.SCRIPTS_PREFIX}*"]


def test_checkov_passes_with_every_suppression_justified():
    skips = [
        skip
        for resource in RESOURCES.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips and all(len(skip["comment"]) > 30 for skip in skips)
    checkov = paths.ROOT / ".venv-checkov" / "bin" / "checkov"
    result = subprocess.run(
        [
            str(checkov),
            "--file",
            str(paths.ROOT / "infra" / "template.json"),
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "--skip-download",  # offline: no guidelines from the vendor's API
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert result.returncode == 0 and not failed, failed
    assert report["summary"]["skipped"] == len(skips)  # each one is used
