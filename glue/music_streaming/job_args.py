"""The pipeline's Glue job arguments (``--key value``): one frozen dataclass per job, shared by the
job script, the DAG helpers and the tests. Glue passes every argument as a string; each field's type
says how to read it (``bool``: true/false, ``tuple``: a JSON list).

Glue Python shell (3.9) imports this module: no 3.10+ syntax outside annotations.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, dataclass, fields, replace
from datetime import datetime
from typing import Mapping, Sequence, TypeVar, get_type_hints

from music_streaming import config


def resolve(
    argv: Sequence[str], required: Sequence[str], optional: Sequence[str]
) -> dict[str, str]:
    """The required arguments and those optional ones that were given; Glue's own extra arguments
    are ignored. getResolvedOptions fails on absent options, so optional ones are asked for only
    when given."""
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
        return {k: v for k, v in vars(parsed).items() if v is not None}
    wanted = list(required) + present
    # getResolvedOptions also answers Glue's own (JOB_ID, JOB_RUN_ID, ...), asked or not.
    resolved = getResolvedOptions(list(argv), wanted)
    return {name: resolved[name] for name in wanted}


def _parse(name: str, kind: type, text: str):
    if kind is bool:
        if text.strip().lower() not in ("true", "false"):
            raise ValueError(f"--{name} must be true or false, not {text!r}")
        return text.strip().lower() == "true"
    if kind is tuple:
        values = json.loads(text) if text.strip() else []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"--{name} must be a JSON list of strings, not {text!r}")
        return tuple(values)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"--{name} must be a {kind.__name__}, not {text!r}") from None


def _render(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


Args = TypeVar("Args", bound="JobArgs")


class JobArgs:
    """What every job's argument dataclass can do."""

    @classmethod
    def required(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.default is MISSING]

    @classmethod
    def optional(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.default is not MISSING]

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_strings(cls: type[Args], given: Mapping[str, str]) -> Args:
        hints = get_type_hints(cls)
        kinds = {name: getattr(hint, "__origin__", hint) for name, hint in hints.items()}
        return cls(**{name: _parse(name, kinds[name], text) for name, text in given.items()})

    @classmethod
    def from_argv(cls: type[Args], argv: Sequence[str]) -> Args:
        return cls.from_strings(resolve(argv, cls.required(), cls.optional()))

    def arguments(self) -> dict[str, str]:
        """``--name value`` pairs as Glue passes them (StartJobRun Arguments)."""
        return {f"--{f.name}": _render(getattr(self, f.name)) for f in fields(self)}


TASK_TYPES = ("full_etl", "dynamodb_only", "archiving_only")


@dataclass(frozen=True)
class EtlArgs(JobArgs):
    """The arguments of the ETL job ``music_streaming_etl_complete``."""

    JOB_NAME: str
    batch_id: str
    processing_date: str
    raw_data_bucket: str
    processed_bucket: str
    dynamodb_table_name: str
    task_type: str = "full_etl"
    archive_bucket: str = ""
    aws_region: str = config.DEFAULT_REGION
    # Glue Data Catalog database whose tables get the partitions full_etl writes; "" = none.
    catalog_database: str = ""

    def __post_init__(self):
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, not {self.task_type!r}")


@dataclass(frozen=True)
class ValidationArgs(JobArgs):
    """The arguments of the validation job ``music_streaming_validation``. An empty batch_id or
    processing_date is taken from the run's start (``for_run``); empty ``files`` and
    ``files_manifest`` mean "claim what is pending, up to max_files", as when the job is run on
    its own."""

    raw_data_bucket: str
    processed_bucket: str
    archive_bucket: str
    dynamodb_table_name: str
    aws_region: str = config.DEFAULT_REGION
    batch_id: str = ""
    processing_date: str = ""
    quarantine_bucket: str = ""
    files: tuple[str, ...] = ()
    # s3:// URL of a JSON list of file ids, in place of ``files`` when the list would not fit
    # Glue's job-argument limit (``config.MAX_INLINE_FILES_BYTES``)
    files_manifest: str = ""
    max_files: int = int(config.VARIABLE_DEFAULTS["max_files_per_batch"])
    max_bad_row_ratio: float = 0.0
    # The DAGs branch on the report and pass false; run by hand, an invalid batch fails the run.
    fail_on_invalid: bool = True

    def __post_init__(self):
        if not 0 <= self.max_bad_row_ratio <= 1:
            raise ValueError(
                f"max_bad_row_ratio must be within [0, 1], not {self.max_bad_row_ratio}"
            )
        if self.max_files < 1:
            raise ValueError(f"max_files must be at least 1, not {self.max_files}")

    def for_run(self, started: datetime) -> ValidationArgs:
        return replace(
            self,
            batch_id=self.batch_id or started.strftime("batch-%Y%m%d-%H%M%S"),
            processing_date=self.processing_date or started.strftime("%Y-%m-%d"),
        )
