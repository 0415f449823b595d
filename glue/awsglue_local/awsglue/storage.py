"""Objects under Glue's S3 paths (and local paths, for tests): listing with ``recurse`` and
``exclusions`` as Glue's S3 connection options describe them, and purging by age."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import boto3


@dataclass(frozen=True)
class StoredFile:
    uri: str  # s3://bucket/key, or a local path
    modified: float  # epoch seconds
    size: int
    storage_class: str = "STANDARD"


def split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def hidden(name: str) -> bool:
    """Files Hadoop and Glue skip: ``_SUCCESS``, ``.crc`` files and folder markers."""
    return not name or name.startswith(("_", "."))


def glob_regex(pattern: str) -> re.Pattern:
    """A Unix glob as Glue's ``exclusions`` use it: ``**`` crosses folders, ``*`` and ``?`` do not."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def exclusion_patterns(exclusions) -> list[re.Pattern]:
    if not exclusions:
        return []
    patterns = json.loads(exclusions) if isinstance(exclusions, str) else list(exclusions)
    return [glob_regex(p) for p in patterns]


def list_files(
    paths: Iterable[str], recurse: bool = False, exclusions=None, s3=None
) -> list[StoredFile]:
    """Each path's files: an object named exactly, or the objects under a folder (its
    sub-folders' with ``recurse``), minus hidden files and ``exclusions``."""
    patterns = exclusion_patterns(exclusions)
    found: dict[str, StoredFile] = {}
    for path in paths:
        files = (
            _s3_files(path, recurse, s3)
            if path.startswith("s3://")
            else _local_files(path, recurse)
        )
        for file in files:
            relative = file.uri.split("/", 3)[-1] if file.uri.startswith("s3://") else file.uri
            if not any(p.match(file.uri) or p.match(relative) for p in patterns):
                found[file.uri] = file
    return [found[uri] for uri in sorted(found)]


def _s3_files(path: str, recurse: bool, s3) -> list[StoredFile]:
    s3 = s3 or boto3.client("s3")
    bucket, key = split(path)
    if key and not key.endswith("/"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            return [StoredFile(path, head["LastModified"].timestamp(), head["ContentLength"])]
        except s3.exceptions.ClientError:
            key += "/"
    files = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            rest = obj["Key"][len(key) :]
            if not rest or (not recurse and "/" in rest):
                continue
            if any(hidden(part) for part in rest.split("/")):
                continue
            files.append(
                StoredFile(
                    f"s3://{bucket}/{obj['Key']}",
                    obj["LastModified"].timestamp(),
                    obj["Size"],
                    obj.get("StorageClass", "STANDARD"),
                )
            )
    return files


def _local_files(path: str, recurse: bool) -> list[StoredFile]:
    root = Path(path.removeprefix("file://"))
    if root.is_file():
        candidates = [root]
    else:
        candidates = [p for p in (root.rglob("*") if recurse else root.glob("*")) if p.is_file()]
    return [
        StoredFile(str(p), p.stat().st_mtime, p.stat().st_size)
        for p in candidates
        if not any(
            hidden(part) for part in p.relative_to(root if root.is_dir() else p.parent).parts
        )
    ]


def purge(path: str, options: dict | None = None, s3=None) -> list[str]:
    """Deletes the objects under ``path`` (recursively) older than ``retentionPeriod`` hours
    (default 168), except ``excludeStorageClasses``; the URIs deleted."""
    options = options or {}
    hours = float(options.get("retentionPeriod", 168))
    excluded = set(options.get("excludeStorageClasses", []))
    cutoff = time.time() - hours * 3600
    deleted = []
    for file in list_files([path.rstrip("/") + "/"], recurse=True, s3=s3):
        if file.modified > cutoff or file.storage_class in excluded:
            continue
        if file.uri.startswith("s3://"):
            bucket, key = split(file.uri)
            (s3 or boto3.client("s3")).delete_object(Bucket=bucket, Key=key)
        else:
            Path(file.uri).unlink()
        deleted.append(file.uri)
    return deleted
