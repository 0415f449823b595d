"""Small boto3 helpers shared by the jobs. Endpoints come from the environment
(``AWS_ENDPOINT_URL`` locally, nothing in AWS), never from code."""
from __future__ import annotations

import json
import logging
from typing import Iterable, Mapping, Optional

import boto3

log = logging.getLogger(__name__)


def client(service: str, region: str):
    return boto3.client(service, region_name=region)


def read_json(s3, bucket: str, key: str):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def write_json(s3, bucket: str, key: str, document) -> None:
    s3.put_object(Bucket=bucket, Key=key, ContentType="application/json",
                  Body=json.dumps(document, indent=2, sort_keys=True, default=str).encode())


def head(s3, bucket: str, key: str) -> Optional[dict]:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def prefix_exists(s3, bucket: str, prefix: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0


def list_keys(s3, bucket: str, prefixes: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def copy_verified(s3, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                  metadata: Optional[Mapping[str, str]] = None) -> dict:
    """Copies an object and checks the copy (size and ETag) before returning its head."""
    source = s3.head_object(Bucket=src_bucket, Key=src_key)
    extra = {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"} if metadata else {}
    s3.copy_object(Bucket=dst_bucket, Key=dst_key,
                   CopySource={"Bucket": src_bucket, "Key": src_key}, **extra)
    copy = s3.head_object(Bucket=dst_bucket, Key=dst_key)
    if copy["ContentLength"] != source["ContentLength"] or copy["ETag"] != source["ETag"]:
        raise RuntimeError(
            f"copy of s3://{src_bucket}/{src_key} to s3://{dst_bucket}/{dst_key} does not match "
            f"(size {copy['ContentLength']} vs {source['ContentLength']}, "
            f"ETag {copy['ETag']} vs {source['ETag']}); source kept")
    return copy


def move_verified(s3, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                  metadata: Optional[Mapping[str, str]] = None) -> dict:
    """Copy, verify, and only then delete the source."""
    copy = copy_verified(s3, src_bucket, src_key, dst_bucket, dst_key, metadata)
    s3.delete_object(Bucket=src_bucket, Key=src_key)
    return copy


def put_metrics(cloudwatch, namespace: str, values: Mapping[str, float],
                dimensions: Optional[Mapping[str, str]] = None) -> None:
    """Publishes metrics; a monitoring outage must not fail the data work, so errors are logged."""
    dims = [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]
    data = [{"MetricName": name, "Value": float(value), "Unit": "Count", "Dimensions": dims}
            for name, value in values.items()]
    try:
        for start in range(0, len(data), 20):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + 20])
    except Exception:  # noqa: BLE001 - logged and tolerated by design
        log.exception("could not publish metrics %s to %s", sorted(values), namespace)
