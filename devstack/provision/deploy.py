"""Packages the pipeline's artifacts and deploys them, to AWS or to a running local stack, from the
same configuration and the same files.

    python -m devstack deploy --target aws|local [--dry-run] [--stack-name NAME] [--mwaa SUBNETS SGS]

Artifacts (in the artifacts bucket, `scripts_bucket`): the Glue scripts and the package zip under
scripts/, the Lambda zip under lambda/ (named by its hash), and for MWAA dags/ (the DAG files and
the package they import) and requirements.txt. ``--dry-run`` prints what would be uploaded and
deployed; for AWS it needs no credentials and makes no network call.
"""

from __future__ import annotations

import argparse
import hashlib
import json

from devstack.core import paths
from devstack.core.stack_config import StackConfig
from devstack.provision import bootstrap, package
from music_streaming import config

STACK_NAME = config.PROJECT
TEMPLATE = paths.ROOT / "infra" / "template.json"
# CloudFormation takes at most 51,200 bytes as TemplateBody; a template goes by TemplateURL from
# the artifacts bucket instead, under a key named by its content (a rollback finds it there).
TEMPLATE_PREFIX = "cloudformation/"


def template_key() -> str:
    return (
        f"{TEMPLATE_PREFIX}template-{hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:16]}.json"
    )


def upload_template(s3, bucket: str, region: str) -> str:
    """The template in the artifacts bucket (once per content); its URL for CloudFormation."""
    key = template_key()
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.put_object(
            Bucket=bucket, Key=key, Body=TEMPLATE.read_bytes(), ContentType="application/json"
        )
    # path-style, as CloudFormation's documentation writes TemplateURLs (and emulators read them)
    return f"https://s3.{region}.amazonaws.com/{bucket}/{key}"


def stack_parameters(mwaa: list[str] | None) -> list[dict]:
    parameters = [{"ParameterKey": "LambdaCodeKey", "ParameterValue": package.lambda_key()}]
    if mwaa:
        parameters += [
            {"ParameterKey": "CreateMwaaEnvironment", "ParameterValue": "true"},
            {"ParameterKey": "MwaaSubnetIds", "ParameterValue": mwaa[0]},
            {"ParameterKey": "MwaaSecurityGroupIds", "ParameterValue": mwaa[1]},
        ]
    return parameters


def ensure_artifacts_bucket(s3, name: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=name)
        return
    except s3.exceptions.ClientError:
        pass
    extra = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **extra)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def deploy_stack(cloudformation, name: str, parameters: list[dict], template_url: str) -> str:
    """Create or update through a change set of the template at ``template_url``; returns what
    happened."""
    try:
        cloudformation.describe_stacks(StackName=name)
        change_type = "UPDATE"
    except cloudformation.exceptions.ClientError:
        change_type = "CREATE"
    change_set = f"{name}-{hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:8]}"
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType=change_type,
        TemplateURL=template_url,
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM"],
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set
        )
    except Exception:  # "no changes" ends the waiter as FAILED
        reason = cloudformation.describe_change_set(StackName=name, ChangeSetName=change_set).get(
            "StatusReason", ""
        )
        if "didn't contain changes" in reason or "No updates" in reason:
            cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
            return "no changes"
        raise
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    cloudformation.get_waiter(waiter).wait(StackName=name)
    return change_type.lower() + "d"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=["aws", "local"], required=True)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--stack-name", default=STACK_NAME)
    parser.add_argument(
        "--mwaa",
        nargs=2,
        metavar=("SUBNET_IDS", "SECURITY_GROUP_IDS"),
        help="also create the MWAA environment (comma-separated ids)",
    )


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    """Deploys to AWS (credentials from the usual chain) or to the local stack ``cfg``."""
    settings = config.settings()
    bucket = str(settings["scripts_bucket"])
    files = package.artifacts(settings)
    print(f"{len(files)} artifacts for s3://{bucket}/:")
    for key, size, digest in package.manifest(files):
        print(f"  {key:<60} {size:>9,} B  sha256 {digest[:16]}")

    if args.target == "aws":
        parameters = stack_parameters(args.mwaa)
        template = json.loads(TEMPLATE.read_text())
        if args.dry_run:
            print(
                f"would create s3://{bucket} if missing (versioned, private, encrypted), "
                "upload the artifacts that changed and the template "
                f"(s3://{bucket}/{template_key()}), and deploy CloudFormation stack "
                f"{args.stack_name!r} from it by TemplateURL "
                f"({len(template['Resources'])} resources) with parameters "
                + ", ".join(f"{p['ParameterKey']}={p['ParameterValue']}" for p in parameters)
            )
            return 0
        import boto3  # only here: a dry run needs neither credentials nor the network

        region = str(settings["aws_region"])
        s3 = boto3.client("s3", region_name=region)
        ensure_artifacts_bucket(s3, bucket, region)
        print("uploaded:", package.upload_changed(s3, bucket, files) or "nothing (all current)")
        template_url = upload_template(s3, bucket, region)
        print("template:", template_url)
        cloudformation = boto3.client("cloudformation", region_name=region)
        print("stack:", deploy_stack(cloudformation, args.stack_name, parameters, template_url))
        return 0

    if args.dry_run:
        s3 = cfg.client("s3")
        changed = []
        for key, data in sorted(files.items()):
            try:
                current = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            except s3.exceptions.ClientError:
                current = None
            if current != hashlib.md5(data).hexdigest() and key.startswith("scripts/"):
                changed.append(key)
        print(
            f"local stack at {cfg.endpoint}: would upload {changed or 'nothing'} and re-apply "
            "the bootstrap (buckets, tables, Glue jobs, Lambda, notification, Variables)"
        )
        return 0
    print("bootstrap:", json.dumps(bootstrap.bootstrap_stack(cfg)))
    return 0
