"""Uploads every CSV under a directory to the raw bucket, keys relative to the directory
(``DIR/streams/a.csv`` -> ``streams/a.csv``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack.core import paths
from devstack.core.stack_config import StackConfig
from music_streaming import config, datasets
from music_streaming import ledger as file_ledger


def seed(s3, directory: Path, bucket: str, progress: bool = False) -> list[str]:
    """Uploads the CSVs; returns the file-ledger ids of the versions uploaded. ``progress``
    shows a bar per file on a terminal (multipart uploads of large files take a while)."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    uploaded = []
    columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, disable=not progress, transient=True) as bars:
        for path in sorted(directory.rglob("*.csv")):
            key = path.relative_to(directory).as_posix()
            if datasets.dataset_of(key) is None:
                print(f"skipping {path}: not under streams/, songs/ or users/")
                continue
            bar = bars.add_task(key, total=path.stat().st_size)
            s3.upload_file(
                str(path), bucket, key, Callback=lambda sent, bar=bar: bars.advance(bar, sent)
            )
            head = s3.head_object(Bucket=bucket, Key=key)
            bars.console.print(f"uploaded s3://{bucket}/{key} ({path.stat().st_size} bytes)")
            uploaded.append(
                file_ledger.file_id(
                    bucket, key, file_ledger.version_tag(head.get("VersionId"), head["ETag"])
                )
            )
    return uploaded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", type=Path, default=paths.SAMPLE_DATA_DIR)
    parser.add_argument("--bucket", default=config.VARIABLE_DEFAULTS["raw_data_bucket"])


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    if not seed(cfg.client("s3"), args.directory, args.bucket, progress=sys.stdout.isatty()):
        raise SystemExit(f"no CSV files under {args.directory}/{{streams,songs,users}}/")
    return 0
