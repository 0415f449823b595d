"""Glue job arguments (``--key value``), via awsglue's getResolvedOptions when it is installed."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, fields
from typing import Mapping, Sequence


def resolve(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str]
) -> dict[str, str]:
    """Required and optional job arguments; Glue's own extra arguments are ignored.

    getResolvedOptions fails on absent options, so optional ones are asked for only when given.
    """
    present = [
        name
        for name in optional
        if f"--{name}" in argv or any(a.startswith(f"--{name}=") for a in argv)
    ]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(allow_abbrev=False)
        for name in list(required) + present:
            parser.add_argument(f"--{name}", required=name in required)
        parsed, _unknown = parser.parse_known_args(list(argv[1:]))
        resolved = {k: v for k, v in vars(parsed).items() if v is not None}
    else:
        resolved = getResolvedOptions(list(argv), list(required) + present)
    return {**optional, **resolved}


TASK_TYPES = ("full_etl", "dynamodb_only", "archiving_only")


@dataclass(frozen=True)
class EtlArgs:
    """The arguments of the ETL job ``music_streaming_etl_complete``: the one description the job,
    its Glue definition's defaults, the DAG helpers and the tests share."""

    JOB_NAME: str
    batch_id: str
    processing_date: str
    raw_data_bucket: str
    processed_bucket: str
    dynamodb_table_name: str
    task_type: str = "full_etl"
    archive_bucket: str = ""
    aws_region: str = "us-east-1"

    def __post_init__(self):
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, not {self.task_type!r}")

    @classmethod
    def required(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.default is MISSING]

    @classmethod
    def optional(cls) -> dict[str, str]:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> EtlArgs:
        resolved = resolve(argv, cls.required(), cls.optional())
        return cls(**{f.name: resolved[f.name] for f in fields(cls)})

    def arguments(self) -> dict[str, str]:
        """``--name value`` pairs as Glue passes them (StartJobRun Arguments)."""
        return {f"--{f.name}": str(getattr(self, f.name)) for f in fields(self)}
