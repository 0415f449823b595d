"""Small boto3 helpers shared by the jobs. Endpoints come from the environment
(``AWS_ENDPOINT_URL`` locally, nothing in AWS), never from code."""

from __future__ import annotations

import base64
import json
import logging
import zlib
from typing import Iterable, Mapping, Optional, Sequence

import boto3
from botocore.config import Config

from music_streaming import config

log = logging.getLogger(__name__)

# Retries with backoff over ~a minute: a throttled table or an endpoint that restarts (an emulator
# locally, a network blip in AWS) delays a job instead of failing it.
# The one retry policy: the jobs, the local services, the stack's clients and Airflow's connection.
RETRY_POLICY = {"mode": "standard", "max_attempts": 10}


def retrying() -> Config:
    """A botocore Config with RETRY_POLICY (a copy: botocore rewrites the dict it is given)."""
    return Config(retries=dict(RETRY_POLICY))


def client(service: str, region: str):
    return boto3.client(service, region_name=region, config=retrying())


def resource(service: str, region: str):
    return boto3.resource(service, region_name=region, config=retrying())


def all_items(call, **request) -> list:
    """Every item of a DynamoDB query or scan (``call``: a table's or client's ``query``/``scan``),
    following LastEvaluatedKey across pages."""
    items: list = []
    while True:
        page = call(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def paged(client, operation: str, key: str, **request) -> list:
    """Every ``key`` item of a paginated call (``operation`` by its boto3 name)."""
    pages = client.get_paginator(operation).paginate(**request)
    return [item for page in pages for item in page.get(key, [])]


def ensure_table(dynamodb, definition: dict) -> bool:
    """Creates a DynamoDB table when missing (a low-level client); True if it did."""
    try:
        dynamodb.describe_table(TableName=definition["TableName"])
        return False
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(**definition)
        dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])
        return True


def pipeline_tables(dynamodb, table_name: str) -> list[str]:
    """The KPI table and its file ledger, as every deploy defines them; the ones created."""
    return [
        d["TableName"]
        for d in (
            config.kpi_table_definition(table_name),
            config.file_tracker_table_definition(table_name),
        )
        if ensure_table(dynamodb, d)
    ]


def read_json(s3, bucket: str, key: str):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def write_json(s3, bucket: str, key: str, document) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        ContentType="application/json",
        Body=json.dumps(document, indent=2, sort_keys=True, default=str).encode(),
    )


def error_code(exc) -> str:
    """The AWS error code of a botocore ClientError ("" when it carries none)."""
    return exc.response.get("Error", {}).get("Code", "")


def head(s3, bucket: str, key: str) -> Optional[dict]:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def prefix_exists(s3, bucket: str, prefix: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0


def ensure_directory(s3, bucket: str, prefix: str) -> None:
    """An empty ``prefix/`` marker unless objects lie under it: Hadoop's S3A (Spark's event log,
    its history server) refuses a directory that does not exist."""
    marker = prefix.rstrip("/") + "/"
    if not prefix_exists(s3, bucket, marker):
        s3.put_object(Bucket=bucket, Key=marker, Body=b"")


def list_keys(s3, bucket: str, prefixes: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def add_partitions(glue, database: str, table: str, inputs: Sequence[dict]) -> int:
    """Registers catalog partitions (BatchCreatePartition, 100 a call); those already there are
    kept (a rerun), any other error raises. The number newly added."""
    added = 0
    for start in range(0, len(inputs), 100):
        chunk = list(inputs[start : start + 100])
        errors = glue.batch_create_partition(
            DatabaseName=database, TableName=table, PartitionInputList=chunk
        ).get("Errors", [])
        failed = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if failed:
            detail = failed[0]["ErrorDetail"]
            raise RuntimeError(
                f"{database}.{table}: partition {failed[0]['PartitionValues']} not registered: "
                f"{detail['ErrorCode']}: {detail.get('ErrorMessage', '')}"
            )
        added += len(chunk) - len(errors)
    return added


# One CopyObject request copies up to 5 GB; above, a managed multipart copy.
MAX_SINGLE_COPY_BYTES = 5 * 1024**3
_STREAM_CHUNK = 8 * 1024 * 1024


def version_source(bucket: str, key: str, version_id: str) -> dict:
    """CopySource/GetObject arguments of one version (tags derived from an ETag, in a bucket
    without versioning, name no S3 version)."""
    source = {"Bucket": bucket, "Key": key}
    if not version_id.startswith("etag-"):
        source["VersionId"] = version_id
    return source


def streamed_crc32(s3, bucket: str, key: str, version_id: Optional[str] = None) -> int:
    body = s3.get_object(Bucket=bucket, Key=key, **version_args(version_id))["Body"]
    crc = 0
    with body:
        for chunk in body.iter_chunks(_STREAM_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def full_object_crc32(checksum: Mapping[str, str]) -> Optional[int]:
    """The CRC32 of a whole object from GetObjectAttributes' Checksum, or None when S3 reports
    none or a composite one (checksum of part checksums, written ``base64-N``; a copy of a
    multipart object may carry its source's, whatever ChecksumType says)."""
    reported = checksum.get("ChecksumCRC32")
    if (
        not reported
        or "-" in reported
        or checksum.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT"
    ):
        return None
    return int.from_bytes(base64.b64decode(reported), "big")


class CopyMismatch(RuntimeError):
    """A copy whose size or CRC32 is not the source's."""


def version_args(version_id: Optional[str]) -> dict:
    """The VersionId argument of an object call, none when there is no version to name."""
    return {"VersionId": version_id} if version_id else {}


def verify_copy(
    s3, bucket: str, key: str, size: int, crc32: int, version_id: Optional[str] = None
) -> None:
    """Proves a copy (``version_id``: that version of it) equals the bytes validated: its size and
    a CRC32 of the whole object.

    S3 reports a full-object CRC32 for objects written by one request with ChecksumAlgorithm
    CRC32 (GetObjectAttributes); ETags cannot serve, as a multipart upload's ETag is not its
    copy's. Where no full-object checksum is reported (a managed multipart copy), the copy is
    read back and hashed."""
    attributes = s3.get_object_attributes(
        Bucket=bucket,
        Key=key,
        ObjectAttributes=["ObjectSize", "Checksum"],
        **version_args(version_id),
    )
    checksum = attributes.get("Checksum") or {}
    where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
    if attributes["ObjectSize"] != size:
        raise CopyMismatch(f"copy {where} has {attributes['ObjectSize']} bytes, the source {size}")
    reported = full_object_crc32(checksum)
    actual = reported if reported is not None else streamed_crc32(s3, bucket, key, version_id)
    if actual != crc32:
        raise CopyMismatch(f"copy {where} has CRC32 {actual:08x}, the source {crc32:08x}")


def copy_version_verified(
    s3,
    source: dict,
    etag: str,
    size: int,
    crc32: int,
    dst_bucket: str,
    dst_key: str,
    metadata: Optional[Mapping[str, str]] = None,
    write_once: bool = False,
) -> Optional[str]:
    """Copies exactly one version (``version_source``; CopySourceIfMatch its ETag, so a changed
    object is never copied in its place) and verifies the copy (``verify_copy``). Returns the
    VersionId of the verified copy (None where the target bucket keeps no versions): a reader
    that names it reads these bytes whatever is written over the key later.

    ``write_once`` (the archive): a copy already at the target (an earlier attempt's) is verified
    and kept, never copied again. One that fails verification (an object someone else put
    there) is reported in a bucket without versioning; in a versioned one the new copy goes on
    top and the other stays, as an older version. (S3's conditional writes cannot enforce
    write-once: under a policy requiring If-None-Match, S3 refuses CopyObject altogether.)"""
    if write_once:
        current = head(s3, dst_bucket, dst_key)
        if current is not None:
            version_id = current.get("VersionId")
            try:
                verify_copy(s3, dst_bucket, dst_key, size, crc32, version_id)
                return version_id
            except CopyMismatch:
                if not version_id:
                    raise
                log.warning("s3://%s/%s holds other bytes; copying over it", dst_bucket, dst_key)
    extra = {"ChecksumAlgorithm": "CRC32", "CopySourceIfMatch": f'"{etag.strip(chr(34))}"'}
    if metadata:
        extra.update(Metadata=dict(metadata), MetadataDirective="REPLACE")
    if size > MAX_SINGLE_COPY_BYTES:
        s3.copy(source, dst_bucket, dst_key, ExtraArgs=extra)
        # a managed copy reports no version: the current one is verified, so whichever version
        # it is, its bytes are the source's
        version_id = (head(s3, dst_bucket, dst_key) or {}).get("VersionId")
    else:
        copied = s3.copy_object(Bucket=dst_bucket, Key=dst_key, CopySource=source, **extra)
        version_id = copied.get("VersionId")
    verify_copy(s3, dst_bucket, dst_key, size, crc32, version_id)
    return version_id


def current_version(s3, bucket: str, key: str) -> Optional[str]:
    """The VersionId of the object now under ``key`` (None without versioning)."""
    return s3.head_object(Bucket=bucket, Key=key).get("VersionId")


class UnversionedBucket(RuntimeError):
    """The raw bucket keeps no versions: an upload could replace the version being processed."""


def require_versioning(s3, bucket: str) -> None:
    """Refuses a raw bucket without versioning (or with it suspended): the ledger tracks each
    upload by version, and deleting a processed file must never delete a correction."""
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise UnversionedBucket(
            f"s3://{bucket} has versioning {status or 'never enabled'}; the pipeline needs it "
            "Enabled (aws s3api put-bucket-versioning --bucket "
            f"{bucket} --versioning-configuration Status=Enabled)"
        )


def delete_version(s3, source: dict) -> None:
    """Deletes exactly one version. (Without versioning the key is deleted: raw buckets are
    versioned by the deployment and the local stack.)"""
    s3.delete_object(**source)


def put_metrics(
    cloudwatch,
    namespace: str,
    values: Mapping[str, float],
    dimensions: Optional[Mapping[str, str]] = None,
) -> None:
    """Publishes metrics; a monitoring outage must not fail the data work, so errors are logged."""
    dims = [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]
    data = [
        {"MetricName": name, "Value": float(value), "Unit": "Count", "Dimensions": dims}
        for name, value in values.items()
    ]
    try:
        for start in range(0, len(data), 20):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])
    except Exception:  # logged and tolerated by design
        log.exception("could not publish metrics %s to %s", sorted(values), namespace)
