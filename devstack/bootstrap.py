"""Creates the pipeline's buckets and tables on an endpoint, from the one configuration.

Idempotent: what exists is left as it is.
"""
from __future__ import annotations

import boto3

from music_streaming import config

BUCKET_SETTINGS = ("raw_data_bucket", "processed_bucket", "quarantine_bucket", "archive_bucket",
                   "scripts_bucket")


def ensure_buckets(s3, settings: dict) -> list[str]:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for name in (str(settings[s]) for s in BUCKET_SETTINGS):
        if name not in existing:
            s3.create_bucket(Bucket=name)
            created.append(name)
    return created


def ensure_table(dynamodb, definition: dict) -> bool:
    """Creates the table when missing; returns True if it did."""
    try:
        dynamodb.describe_table(TableName=definition["TableName"])
        return False
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(**definition)
        dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])
        return True


def ensure_storage(settings: dict | None = None) -> dict:
    """Buckets and both DynamoDB tables; returns what was created."""
    settings = config.settings(settings)
    region = str(settings["aws_region"])
    s3 = boto3.client("s3", region_name=region)
    dynamodb = boto3.client("dynamodb", region_name=region)
    table = str(settings["dynamodb_table_name"])
    return {
        "buckets": ensure_buckets(s3, settings),
        "tables": [d["TableName"] for d in (config.kpi_table_definition(table),
                                            config.file_tracker_table_definition(table))
                   if ensure_table(dynamodb, d)],
    }
