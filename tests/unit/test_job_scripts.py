"""Job-script plumbing that needs neither Spark nor AWS."""

import ast
import sys
from datetime import datetime, timezone

import pytest

from devstack.core import paths
from devstack.provision import package
from devstack.services.glue import supervisor
from music_streaming import config, job_args

# The validation job runs on Glue's Python shell (3.9): everything it imports must parse as 3.9.
PYTHON_SHELL_MODULES = [
    "__init__.py",
    "config.py",
    "datasets.py",
    "validation.py",
    "layout.py",
    "job_args.py",
    "aws.py",
]


@pytest.mark.parametrize("name", PYTHON_SHELL_MODULES)
def test_python_shell_modules_parse_as_python_3_9(name):
    source = (paths.PACKAGE_DIR / name).read_text()
    ast.parse(source, feature_version=(3, 9))
    assert "from __future__ import annotations" in source or name == "__init__.py"


def test_validation_script_parses_as_python_3_9():
    ast.parse(
        (paths.JOBS_DIR / "music_streaming_validation.py").read_text(), feature_version=(3, 9)
    )


def test_job_args_required_optional_and_glue_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)  # force the argparse path
    argv = [
        "script.py",
        "--JOB_ID",
        "j_1",
        "--batch_id",
        "b1",
        "--task_type=dynamodb_only",
        "--job-bookmark-option",
        "job-bookmark-disable",
    ]
    args = job_args.resolve(argv, ["batch_id"], ["task_type", "aws_region"])
    assert args == {"batch_id": "b1", "task_type": "dynamodb_only"}
    with pytest.raises(SystemExit):
        job_args.resolve(["script.py"], ["batch_id"], [])


def test_job_args_with_awsglue_get_resolved_options():
    pytest.importorskip("awsglue.utils")
    args = job_args.resolve(
        ["s.py", "--batch_id", "b1", "--JOB_ID", "x"], ["batch_id"], ["aws_region"]
    )
    assert args == {"batch_id": "b1"}


VALIDATION = job_args.ValidationArgs(
    raw_data_bucket="raw",
    processed_bucket="processed",
    archive_bucket="archive",
    dynamodb_table_name="kpis",
    batch_id="b1",
    files=("raw/streams/a.csv#v1", "raw/songs/s.csv#v2"),
    max_files=7,
    max_bad_row_ratio=0.25,
    fail_on_invalid=False,
)


def as_argv(arguments: dict[str, str]) -> list[str]:
    return ["script.py", *[part for pair in arguments.items() for part in pair]]


def test_validation_args_round_trip_through_glue_strings(monkeypatch):
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    arguments = VALIDATION.arguments()
    assert arguments["--fail_on_invalid"] == "false"
    assert arguments["--files"] == '["raw/streams/a.csv#v1", "raw/songs/s.csv#v2"]'
    assert job_args.ValidationArgs.from_argv(as_argv(arguments)) == VALIDATION


def test_etl_args_round_trip_and_reject_an_unknown_task_type(monkeypatch):
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    etl = job_args.EtlArgs(
        JOB_NAME="etl",
        batch_id="b1",
        processing_date="2024-07-01",
        raw_data_bucket="raw",
        processed_bucket="processed",
        dynamodb_table_name="kpis",
        task_type="archiving_only",
    )
    assert job_args.EtlArgs.from_argv(as_argv(etl.arguments())) == etl
    with pytest.raises(ValueError, match="task_type must be one of"):
        job_args.EtlArgs.from_argv(as_argv({**etl.arguments(), "--task_type": "everything"}))


def test_validation_args_defaults_and_the_run_start(monkeypatch):
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    minimal = job_args.ValidationArgs.from_argv(
        as_argv({f"--{name}": "x" for name in job_args.ValidationArgs.required()})
    )
    assert (minimal.files, minimal.fail_on_invalid, minimal.max_bad_row_ratio) == ((), True, 0.0)
    started = datetime(2024, 7, 1, 23, 59, 58, tzinfo=timezone.utc)
    run = minimal.for_run(started)
    assert (run.batch_id, run.processing_date) == ("batch-20240701-235958", "2024-07-01")
    assert VALIDATION.for_run(started).batch_id == "b1"  # a given batch id is kept


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("fail_on_invalid", "yes", "--fail_on_invalid must be true or false"),
        ("max_files", "many", "--max_files must be a int"),
        ("max_files", "0", "max_files must be at least 1"),
        ("max_bad_row_ratio", "1.5", "max_bad_row_ratio must be within"),
        ("files", '{"a": 1}', "--files must be a JSON list of strings"),
    ],
)
def test_validation_args_name_the_bad_argument(monkeypatch, name, text, message):
    monkeypatch.setitem(sys.modules, "awsglue.utils", None)
    arguments = {**VALIDATION.arguments(), f"--{name}": text}
    with pytest.raises(ValueError, match=message):
        job_args.ValidationArgs.from_argv(as_argv(arguments))


def test_package_zip_is_reproducible(tmp_path):
    first = package.build_package_zip(tmp_path / "a")
    second = package.build_package_zip(tmp_path / "b")
    assert package.sha256(first) == package.sha256(second)
    import zipfile

    names = zipfile.ZipFile(first).namelist()
    assert "music_streaming/kpis.py" in names and "music_streaming/validation.py" in names


@pytest.mark.parametrize(
    "job_key, arguments_class",
    [("validation", job_args.ValidationArgs), ("etl", job_args.EtlArgs)],
)
def test_job_definition_defaults_name_only_the_jobs_own_arguments(job_key, arguments_class):
    definition = config.glue_job_definition(job_key, config.settings(), "arn:aws:iam::1:role/r")
    # Glue's own special parameters (the local Glue API keeps them from the script, as Glue does)
    defaults = set(definition["DefaultArguments"]) - set(supervisor.GLUE_ONLY_ARGUMENTS)
    assert defaults <= {f"--{name}" for name in arguments_class.names()}


def test_the_etl_job_is_wiring_and_its_tasks_are_importable():
    """The job script parses arguments and runs one task; the tasks and their steps are package
    functions (imported here without Spark or Glue)."""
    from music_streaming import etl_steps, etl_tasks

    source = (paths.JOBS_DIR / "etl_streaming_pipeline_complete.py").read_text()
    assert len(source.splitlines()) <= 150
    assert set(etl_tasks.TASKS) == {"full_etl", "dynamodb_only", "archiving_only"}
    assert callable(etl_steps.day_kpis) and callable(etl_steps.write_batch_streams)
