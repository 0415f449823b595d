"""Job-script plumbing that needs neither Spark nor AWS."""

import ast
import sys

import pytest

from devstack.core import paths
from devstack.provision import package
from music_streaming import job_args

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
    args = job_args.resolve(
        argv, ["batch_id"], {"task_type": "full_etl", "aws_region": "us-east-1"}
    )
    assert args == {"batch_id": "b1", "task_type": "dynamodb_only", "aws_region": "us-east-1"}
    with pytest.raises(SystemExit):
        job_args.resolve(["script.py"], ["batch_id"], {})


def test_job_args_with_awsglue_get_resolved_options():
    pytest.importorskip("awsglue.utils")
    args = job_args.resolve(
        ["s.py", "--batch_id", "b1", "--JOB_ID", "x"], ["batch_id"], {"aws_region": "us-east-1"}
    )
    assert args["batch_id"] == "b1" and args["aws_region"] == "us-east-1"


def test_package_zip_is_reproducible(tmp_path):
    first = package.build_package_zip(tmp_path / "a")
    second = package.build_package_zip(tmp_path / "b")
    assert package.sha256(first) == package.sha256(second)
    import zipfile

    names = zipfile.ZipFile(first).namelist()
    assert "music_streaming/kpis.py" in names and "music_streaming/validation.py" in names
