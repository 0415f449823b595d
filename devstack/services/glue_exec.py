"""Command lines that run a Glue job script the way Glue does: ``glueetl`` with spark-submit,
``pythonshell`` with python, arguments as ``--key value``, S3A settings from outside the script."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from devstack.core import emulator, paths
from music_streaming import config


@dataclass(frozen=True)
class Runtime:
    """Where Spark and Python come from: the project's venv natively; the Glue image's own
    (/usr/lib/spark, its python3) in the Compose stack."""

    spark_submit: str = str(paths.VENV_BIN / "spark-submit")
    job_python: str = str(paths.VENV_BIN / "python")
    # Empty: the Spark installation brings its S3A connector (the Glue image does).
    jars_dir: str = str(paths.JARS_DIR)
    driver_memory: str = "2g"
    # A local run is mostly JVM start-up: the client compiler alone and the serial collector start
    # ~30% faster (10.3 -> 7.4 s for a trivial job on 2 cores). Empty for long, heavy runs, where
    # the optimising compiler pays off.
    driver_java_options: str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Runtime:
        """LOCAL_GLUE_{SPARK_SUBMIT,PYTHON,JARS_DIR,DRIVER_MEMORY,DRIVER_JAVA_OPTIONS} override
        the defaults."""
        default = cls()
        return cls(
            environ.get("LOCAL_GLUE_SPARK_SUBMIT", default.spark_submit),
            environ.get("LOCAL_GLUE_PYTHON", default.job_python),
            environ.get("LOCAL_GLUE_JARS_DIR", default.jars_dir),
            environ.get("LOCAL_GLUE_DRIVER_MEMORY", default.driver_memory),
            environ.get("LOCAL_GLUE_DRIVER_JAVA_OPTIONS", default.driver_java_options),
        )

    def hadoop_jars(self) -> list[Path]:
        if not self.jars_dir:
            return []
        jars = sorted(Path(self.jars_dir).glob("*.jar"))
        if not jars:
            raise FileNotFoundError(f"no hadoop-aws jars in {self.jars_dir}: run scripts/install")
        return jars

    def spark_conf(self, endpoint: str) -> dict[str, str]:
        return {
            **emulator.s3a_settings(endpoint),
            **config.SPARK_CONF,
            "spark.ui.enabled": "false",
            "spark.driver.memory": self.driver_memory,
            "spark.driver.extraJavaOptions": self.driver_java_options,
        }

    def command(
        self,
        job_type: str,
        script: Path,
        extra_py_files: list[Path],
        arguments: Mapping[str, str],
        endpoint: str,
        region: str,
        run_name: str | None = None,
        extra_conf: Mapping[str, str] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) for one job run; a Spark run is named ``run_name`` (the Glue run
        id, as the Spark UI lists it) and gets ``extra_conf`` (e.g. event logs)."""
        env = {
            **os.environ,
            **emulator.aws_env(endpoint, region),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": self.job_python,
            "PATH": f"{paths.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        if job_type == "pythonshell":
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in extra_py_files)
            return [self.job_python, str(script), *job_arguments(arguments)], env
        if job_type != "glueetl":
            raise ValueError(f"unsupported job type {job_type!r}")
        argv = [self.spark_submit, "--master", "local[2]"]
        if run_name:
            argv += ["--name", run_name]
        jars = self.hadoop_jars()
        if jars:
            argv += ["--jars", ",".join(str(j) for j in jars)]
        if extra_py_files:
            argv += ["--py-files", ",".join(str(p) for p in extra_py_files)]
        for key, value in {**self.spark_conf(endpoint), **(extra_conf or {})}.items():
            argv += ["--conf", f"{key}={value}"]
        return [*argv, str(script), *job_arguments(arguments)], env


def job_arguments(arguments: Mapping[str, str]) -> list[str]:
    argv: list[str] = []
    for key, value in arguments.items():
        argv += [key if key.startswith("--") else f"--{key}", str(value)]
    return argv


def run(
    job: str,
    arguments: Mapping[str, str],
    endpoint: str,
    region: str,
    package_zip: Path,
    log_path: Path,
    timeout: float = 3600,
):
    """Runs pipeline job ``job`` (a key of config.GLUE_JOBS) to completion; output goes to log_path."""
    spec = config.GLUE_JOBS[job]
    argv, env = Runtime().command(
        str(spec["command"]),
        paths.JOBS_DIR / str(spec["script"]),
        [package_zip],
        arguments,
        endpoint,
        region,
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        result = subprocess.run(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    return result.returncode
