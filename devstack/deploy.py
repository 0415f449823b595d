"""Packages the pipeline's artifacts and deploys them, to AWS or to a running local stack, from the
same configuration and the same files.

    scripts/deploy.sh --target aws|local [--dry-run] [--stack-name NAME] [--mwaa SUBNETS SGS]

Artifacts (in the artifacts bucket, `scripts_bucket`): the Glue scripts and the package zip under
scripts/, the Lambda zip under lambda/ (named by its hash), and for MWAA dags/ (the DAG files and
the package they import) and requirements.txt. ``--dry-run`` prints what would be uploaded and
deployed; for AWS it needs no credentials and makes no network call.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys

from devstack import package, paths
from music_streaming import config

STACK_NAME = config.PROJECT
TEMPLATE = paths.ROOT / "infra" / "template.json"


def artifacts(settings: dict) -> dict[str, bytes]:
    """Object key in the artifacts bucket -> content, for every deployable file."""
    bucket = str(settings["scripts_bucket"])
    files: dict[str, bytes] = {}
    for key, spec in config.GLUE_JOBS.items():
        files[config.script_url(settings, key).split(f"{bucket}/", 1)[1]] = \
            (paths.JOBS_DIR / str(spec["script"])).read_bytes()
    files[config.package_url(settings).split(f"{bucket}/", 1)[1]] = \
        package.build_package_zip().read_bytes()
    files[lambda_key()] = package.lambda_zip()
    for path in sorted(paths.DAGS_DIR.iterdir()):
        if path.is_file() and (path.suffix == ".py" or path.name == ".airflowignore"):
            files[f"dags/{path.name}"] = path.read_bytes()
    for path in package.package_files():  # the DAGs import music_streaming.config
        files[f"dags/{path.relative_to(paths.GLUE_DIR).as_posix()}"] = path.read_bytes()
    files["requirements.txt"] = (paths.ROOT / "airflow" / "requirements.txt").read_bytes()
    return files


def lambda_key() -> str:
    digest = hashlib.sha256(package.lambda_zip()).hexdigest()[:16]
    return f"lambda/{config.LAMBDA_FUNCTION_NAME}-{digest}.zip"


def manifest(files: dict[str, bytes]) -> list[tuple[str, int, str]]:
    return [(key, len(data), hashlib.sha256(data).hexdigest()) for key, data in
            sorted(files.items())]


def stack_parameters(mwaa: list[str] | None) -> list[dict]:
    parameters = [{"ParameterKey": "LambdaCodeKey", "ParameterValue": lambda_key()}]
    if mwaa:
        parameters += [{"ParameterKey": "CreateMwaaEnvironment", "ParameterValue": "true"},
                       {"ParameterKey": "MwaaSubnetIds", "ParameterValue": mwaa[0]},
                       {"ParameterKey": "MwaaSecurityGroupIds", "ParameterValue": mwaa[1]}]
    return parameters


def ensure_artifacts_bucket(s3, name: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=name)
        return
    except s3.exceptions.ClientError:
        pass
    extra = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **extra)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def upload_changed(s3, bucket: str, files: dict[str, bytes]) -> list[str]:
    """Uploads what is missing or different (single-part ETag = MD5); returns the keys."""
    uploaded = []
    for key, data in sorted(files.items()):
        try:
            if s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == \
                    hashlib.md5(data).hexdigest():
                continue
        except s3.exceptions.ClientError:
            pass
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        uploaded.append(key)
    return uploaded


def deploy_stack(cloudformation, name: str, parameters: list[dict]) -> str:
    """Create or update through a change set; returns what happened."""
    try:
        cloudformation.describe_stacks(StackName=name)
        change_type = "UPDATE"
    except cloudformation.exceptions.ClientError:
        change_type = "CREATE"
    change_set = f"{name}-{hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:8]}"
    cloudformation.create_change_set(
        StackName=name, ChangeSetName=change_set, ChangeSetType=change_type,
        TemplateBody=TEMPLATE.read_text(), Parameters=parameters,
        Capabilities=["CAPABILITY_IAM"])
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set)
    except Exception:  # noqa: BLE001 - "no changes" ends the waiter as FAILED
        reason = cloudformation.describe_change_set(
            StackName=name, ChangeSetName=change_set).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
            return "no changes"
        raise
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    cloudformation.get_waiter(waiter).wait(StackName=name)
    return change_type.lower() + "d"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["aws", "local"], required=True)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--stack-name", default=STACK_NAME)
    parser.add_argument("--mwaa", nargs=2, metavar=("SUBNET_IDS", "SECURITY_GROUP_IDS"),
                        help="also create the MWAA environment (comma-separated ids)")
    args = parser.parse_args(argv)
    settings = config.settings()
    bucket = str(settings["scripts_bucket"])
    files = artifacts(settings)
    print(f"{len(files)} artifacts for s3://{bucket}/:")
    for key, size, digest in manifest(files):
        print(f"  {key:<60} {size:>9,} B  sha256 {digest[:16]}")

    if args.target == "aws":
        parameters = stack_parameters(args.mwaa)
        template = json.loads(TEMPLATE.read_text())
        if args.dry_run:
            print(f"would create s3://{bucket} if missing (versioned, private, encrypted), "
                  "upload the artifacts that changed, and deploy CloudFormation stack "
                  f"{args.stack_name!r} from {TEMPLATE.relative_to(paths.ROOT)} "
                  f"({len(template['Resources'])} resources) with parameters "
                  + ", ".join(f"{p['ParameterKey']}={p['ParameterValue']}" for p in parameters))
            return 0
        import boto3

        region = str(settings["aws_region"])
        s3 = boto3.client("s3", region_name=region)
        ensure_artifacts_bucket(s3, bucket, region)
        print("uploaded:", upload_changed(s3, bucket, files) or "nothing (all current)")
        print("stack:", deploy_stack(boto3.client("cloudformation", region_name=region),
                                     args.stack_name, parameters))
        return 0

    from devstack import stack
    cfg = stack.StackConfig()
    if args.dry_run:
        import os

        import boto3

        from devstack import emulator
        os.environ.update(emulator.aws_env(cfg.endpoint, cfg.region))
        s3 = boto3.client("s3")
        changed = []
        for key, data in sorted(files.items()):
            try:
                current = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            except s3.exceptions.ClientError:
                current = None
            if current != hashlib.md5(data).hexdigest() and key.startswith("scripts/"):
                changed.append(key)
        print(f"local stack at {cfg.endpoint}: would upload {changed or 'nothing'} and re-apply "
              "the bootstrap (buckets, tables, Glue jobs, Lambda, notification, Variables)")
        return 0
    from devstack import bootstrap
    print("bootstrap:", json.dumps(bootstrap.bootstrap_stack(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
