"""How the local Glue API turns a run into a command: Glue's Spark UI arguments as Spark's event
log settings, the run named by its id."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from devstack.core import paths
from devstack.services.glue import runtime as glue_exec
from devstack.services.glue import supervisor


class FakeS3:
    def __init__(self, keys=()):
        self.keys, self.put = set(keys), []

    def list_objects_v2(self, Bucket, Prefix, MaxKeys):
        return {"KeyCount": sum(k.startswith(Prefix) for k in self.keys)}

    def put_object(self, Bucket, Key, Body):
        self.put.append((Bucket, Key))
        self.keys.add(Key)


def test_the_spark_ui_arguments_become_event_logs_in_a_directory_that_exists():
    s3 = FakeS3()
    arguments = {"--enable-spark-ui": "true", "--spark-event-logs-path": "s3://b/logs"}
    conf = supervisor.spark_ui_conf(s3, arguments)
    assert conf["spark.eventLog.enabled"] == "true"
    assert conf["spark.eventLog.dir"] == "s3://b/logs/"
    assert s3.put == [("b", "logs/")]  # Spark refuses a missing directory
    supervisor.spark_ui_conf(s3, arguments)
    assert len(s3.put) == 1
    assert supervisor.spark_ui_conf(s3, {"--enable-spark-ui": "false"}) == {}
    assert supervisor.spark_ui_conf(s3, {}) == {}


@pytest.mark.parametrize("path", ["", "logs/", "s3://"])
def test_the_spark_ui_needs_an_s3_log_path(path):
    arguments = {"--enable-spark-ui": "true", "--spark-event-logs-path": path}
    with pytest.raises(ValueError, match="--spark-event-logs-path s3://bucket/prefix/"):
        supervisor.spark_ui_conf(FakeS3(), arguments)


def spark_run(runtime: glue_exec.Runtime) -> tuple[list[str], dict[str, str]]:
    return runtime.command(
        "glueetl",
        Path("job.py"),
        [Path("package.zip")],
        {"--batch_id": "b"},
        "http://127.0.0.1:1",
        "us-east-1",
        run_name="jr_1",
        extra_conf={"spark.eventLog.enabled": "true"},
    )


def test_a_spark_run_is_named_by_its_run_id_and_gets_the_extra_conf():
    argv, _env = spark_run(glue_exec.Runtime(jars_dir="", spark_on_demand=False))
    assert argv[0].endswith("spark-submit")
    assert argv[argv.index("--name") + 1] == "jr_1"
    assert "spark.eventLog.enabled=true" in argv
    assert argv[argv.index("--py-files") + 1] == "package.zip"
    assert argv[-3:] == ["job.py", "--batch_id", "b"]
    assert "--enable-spark-ui" in supervisor.GLUE_ONLY_ARGUMENTS  # not passed to the script


def test_on_demand_the_script_runs_under_python_and_pyspark_gets_the_same_spark_settings():
    submitted, _ = spark_run(glue_exec.Runtime(jars_dir="", spark_on_demand=False))
    argv, env = spark_run(glue_exec.Runtime(jars_dir=""))
    assert argv == [glue_exec.Runtime().job_python, "job.py", "--batch_id", "b"]
    # the local awsglue first, then the script's imports, before Spark starts
    assert env["PYTHONPATH"].split(os.pathsep) == [str(paths.AWSGLUE_DIR), "package.zip"]
    spark = shlex.split(env["PYSPARK_SUBMIT_ARGS"])
    assert spark == [*submitted[1:-3], "pyspark-shell"]  # spark-submit's options, one by one
    assert "spark.driver.extraJavaOptions=" + glue_exec.Runtime().java_options() in spark
    off = glue_exec.Runtime.from_env({"LOCAL_GLUE_SPARK_ON_DEMAND": "0"})
    assert not off.spark_on_demand and glue_exec.Runtime.from_env({}).spark_on_demand
    # spark-submit's driver gets the local awsglue through the same variable
    assert str(paths.AWSGLUE_DIR) in _env_of_submitted()["PYTHONPATH"].split(os.pathsep)


def _env_of_submitted() -> dict[str, str]:
    return spark_run(glue_exec.Runtime(jars_dir="", spark_on_demand=False))[1]


def test_the_image_keeps_its_own_awsglue_when_asked_or_when_it_has_one(tmp_path):
    assert glue_exec.Runtime.from_env({"LOCAL_GLUE_AWSGLUE": "image"}).awsglue_path == ""
    assert glue_exec.Runtime.from_env({}).awsglue_path == str(paths.AWSGLUE_DIR)
    # auto: a python that imports an awsglue of its own keeps it (the aws-glue-libs image)
    fake = tmp_path / "site" / "awsglue"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    image = {"LOCAL_GLUE_AWSGLUE": "auto", "LOCAL_GLUE_PYTHON": str(python)}
    assert glue_exec.Runtime.from_env(image).awsglue_path == ""
    clean = tmp_path / "clean-python"
    clean.write_text(f'#!/bin/sh\nPYTHONPATH= exec {sys.executable} "$@"\n')
    clean.chmod(0o755)
    bare = {"LOCAL_GLUE_AWSGLUE": "auto", "LOCAL_GLUE_PYTHON": str(clean)}
    assert glue_exec.Runtime.from_env(bare).awsglue_path == str(paths.AWSGLUE_DIR)
    with pytest.raises(ValueError, match="LOCAL_GLUE_AWSGLUE"):
        glue_exec.Runtime.from_env({"LOCAL_GLUE_AWSGLUE": "mine"})


def java_options(argv: list[str]) -> str:
    return next(a for a in argv if a.startswith("spark.driver.extraJavaOptions=")).split("=", 1)[1]


def test_a_driver_starts_from_the_class_archive_only_when_there_is_one(tmp_path):
    archive = tmp_path / "spark-classes.jsa"
    runtime = glue_exec.Runtime(jars_dir="", class_archive=str(archive), spark_on_demand=False)
    command = ("glueetl", Path("job.py"), [], {}, "http://127.0.0.1:1", "us-east-1")
    assert "SharedArchiveFile" not in java_options(runtime.command(*command)[0])
    archive.write_bytes(b"classes")
    options = java_options(runtime.command(*command)[0])
    assert options == f"{runtime.driver_java_options} -XX:SharedArchiveFile={archive}"
    off = glue_exec.Runtime.from_env(
        {
            "LOCAL_GLUE_CLASS_ARCHIVE": "",
            "LOCAL_GLUE_JARS_DIR": "",
            "LOCAL_GLUE_SPARK_ON_DEMAND": "0",
        }
    )
    assert "SharedArchiveFile" not in java_options(off.command(*command)[0])
