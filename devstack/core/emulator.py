"""MiniStack, the AWS API emulator of the native stack: its settings and the environment that
points SDKs at it. (Started and stopped as a component of ``devstack.runtime.stack``.)"""

from __future__ import annotations

import os
from pathlib import Path

# An emulator accepts any key; these are placeholders, not credentials.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local"
STATE_SUBDIRS = ("tmp", "state", "s3")
LOCAL_ACCOUNT = "000000000000"  # the emulator's default account


# The template's roles (logical id) by the names the emulator holds them under (AWS names them).
LOCAL_ROLE_NAMES = {
    "GlueJobRole": "music-streaming-glue",
    "TriggerDagRole": "music-streaming-trigger-lambda",
    "MwaaExecutionRole": "music-streaming-mwaa",
}


def local_role_arn(name: str) -> str:
    return f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{name}"


# How Spark (jobs, the history server) reaches the emulator's S3, with s3:// paths as in Glue.
S3A_STATIC = {
    "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    "spark.hadoop.fs.s3a.path.style.access": "true",
    "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
    "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "spark.hadoop.fs.s3a.change.detection.mode": "none",
    "spark.hadoop.fs.s3a.fast.upload": "true",
    "spark.hadoop.fs.s3a.committer.magic.enabled": "false",
    # Hadoop 3.4 (Glue 5) keeps directory markers; 3.3 deletes them on every write.
    "spark.hadoop.fs.s3a.directory.marker.retention": "keep",
}


def s3a_settings(endpoint: str) -> dict[str, str]:
    """Spark's S3A settings (``spark.hadoop.*``) for the emulator at ``endpoint``."""
    return {
        **S3A_STATIC,
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.access.key": LOCAL_ACCESS_KEY,
        "spark.hadoop.fs.s3a.secret.key": LOCAL_SECRET_KEY,
    }


def assume_role(sts, role_arn: str, session_name: str, seconds: int = 3600) -> dict[str, str]:
    """A session of ``role_arn`` from ``sts`` as boto3 client arguments (key, secret, token)."""
    found = sts.assume_role(
        RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=seconds
    )["Credentials"]
    return {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }


def s3a_session(session: dict[str, str]) -> dict[str, str]:
    """Spark's S3A settings for session credentials (boto3 arguments), or none for none."""
    if not session:
        return {}
    return {
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.access.key": session["aws_access_key_id"],
        "spark.hadoop.fs.s3a.secret.key": session["aws_secret_access_key"],
        "spark.hadoop.fs.s3a.session.token": session["aws_session_token"],
    }


def aws_env(endpoint: str, region: str) -> dict[str, str]:
    """Environment that points boto3, the AWS CLI and Spark jobs at a local endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


IAM_MODES = ("off", "audit", "enforce")


def ministack_env(
    port: int, state_dir: Path, iam_mode: str = "off", audit_log: Path | None = None
) -> dict[str, str]:
    """MiniStack's settings: loopback only, state (S3 objects included) kept under state_dir; with
    ``iam_mode`` audit or enforce, IAM on (devstack/services/emulator_identity.py)."""
    if iam_mode not in IAM_MODES:
        raise ValueError(f"IAM mode must be one of {', '.join(IAM_MODES)}, not {iam_mode!r}")
    iam = (
        {}
        if iam_mode == "off"
        else {
            "AUTH": "true",
            "DEVSTACK_IAM_MODE": iam_mode,
            "DEVSTACK_IAM_AUDIT_LOG": str(audit_log or state_dir / "iam-calls.jsonl"),
        }
    )
    return {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "TMPDIR": str(state_dir / "tmp"),
        "PERSIST_STATE": "1",
        "STATE_DIR": str(state_dir / "state"),
        "S3_PERSIST": "1",
        "S3_DATA_DIR": str(state_dir / "s3"),
        "LOG_LEVEL": "WARNING",
        # Its root key (AUTH's "configured" one) and what its Lambdas sign with; never a real key
        # from the caller.
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        **iam,
    }


def prepare_state_dir(state_dir: Path) -> None:
    for sub in STATE_SUBDIRS:
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
