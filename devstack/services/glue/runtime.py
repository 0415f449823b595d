"""Command lines that run a Glue job script the way Glue does: ``glueetl`` with Spark (spark-submit,
or PySpark starting the same driver when the script first asks for a session), ``pythonshell``
with python, arguments as ``--key value``, S3A settings from outside the script."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, replace
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
    # Spark's classes as loaded by an earlier driver (JVM class data sharing): a driver starts
    # ~45% faster with it (10.9 -> 6.0 s for a trivial job). Used when the file exists; a stale
    # one (another JDK or Spark) is refused by the JVM with a warning, and the run goes on.
    class_archive: str = str(paths.SPARK_CLASS_ARCHIVE)
    # A glueetl script runs under python, and PySpark starts the driver JVM (spark-submit ...
    # pyspark-shell, the same settings) when it first asks for a session: a run that never does
    # (dynamodb_only, archiving_only) starts no JVM, ~2.3 s sooner done. Off ("0"): spark-submit
    # runs every glueetl script, as where ``job_python`` cannot import pyspark.
    spark_on_demand: bool = True
    # The local awsglue (GlueContext, DynamicFrame…) put first on every run's path; empty: the
    # image's own (aws-glue-libs brings AWS's).
    awsglue_path: str = str(paths.AWSGLUE_DIR)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Runtime:
        """LOCAL_GLUE_{SPARK_SUBMIT,PYTHON,JARS_DIR,DRIVER_MEMORY,DRIVER_JAVA_OPTIONS,
        CLASS_ARCHIVE,SPARK_ON_DEMAND} override the defaults; LOCAL_GLUE_AWSGLUE is ``local``
        (default), ``image`` (the job python's own awsglue) or ``auto`` (the image's where it has
        AWS's, else the local one)."""
        default = cls()
        python = environ.get("LOCAL_GLUE_PYTHON", default.job_python)
        choice = environ.get("LOCAL_GLUE_AWSGLUE", "local")
        if choice not in ("local", "image", "auto"):
            raise ValueError(f"LOCAL_GLUE_AWSGLUE={choice!r}: local, image or auto")
        if choice == "auto":
            choice = "image" if has_awsglue(python) else "local"
        return cls(
            environ.get("LOCAL_GLUE_SPARK_SUBMIT", default.spark_submit),
            environ.get("LOCAL_GLUE_PYTHON", default.job_python),
            environ.get("LOCAL_GLUE_JARS_DIR", default.jars_dir),
            environ.get("LOCAL_GLUE_DRIVER_MEMORY", default.driver_memory),
            environ.get("LOCAL_GLUE_DRIVER_JAVA_OPTIONS", default.driver_java_options),
            environ.get("LOCAL_GLUE_CLASS_ARCHIVE", default.class_archive),
            environ.get("LOCAL_GLUE_SPARK_ON_DEMAND", "1") != "0",
            default.awsglue_path if choice == "local" else "",
        )

    def java_options(self) -> str:
        """The driver JVM's options: the configured ones, plus the class archive if there is one."""
        archive = self.class_archive and Path(self.class_archive)
        if archive and archive.is_file():
            return f"{self.driver_java_options} -XX:SharedArchiveFile={archive}".strip()
        return self.driver_java_options

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
            "spark.driver.extraJavaOptions": self.java_options(),
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
        extra_jars: list[Path] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) for one job run; a Spark run is named ``run_name`` (the Glue run
        id, as the Spark UI lists it) and gets ``extra_conf`` (e.g. event logs) and
        ``extra_jars`` (Glue's ``--extra-jars``, e.g. a JDBC driver)."""
        env = {
            **os.environ,
            **emulator.aws_env(endpoint, region),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": self.job_python,
            "PATH": f"{paths.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        if job_type not in ("pythonshell", "glueetl"):
            raise ValueError(f"unsupported job type {job_type!r}")
        script_argv = [str(script), *job_arguments(arguments)]
        if job_type == "glueetl":
            spark = ["--master", "local[2]"]
            if run_name:
                spark += ["--name", run_name]
            jars = [*self.hadoop_jars(), *(extra_jars or [])]
            if jars:
                spark += ["--jars", ",".join(str(j) for j in jars)]
            if extra_py_files:
                spark += ["--py-files", ",".join(str(p) for p in extra_py_files)]
            for key, value in {**self.spark_conf(endpoint), **(extra_conf or {})}.items():
                spark += ["--conf", f"{key}={value}"]
            if not self.spark_on_demand:
                inherited = [p for p in [os.environ.get("PYTHONPATH", "")] if p]
                env["PYTHONPATH"] = os.pathsep.join([*self._awsglue(), *inherited])
                return [self.spark_submit, *spark, *script_argv], env
            env["PYSPARK_SUBMIT_ARGS"] = shlex.join([*spark, "pyspark-shell"])
        # the script's own imports of the extra files, before any Spark starts; Spark's Python
        # workers inherit the path (a map function's awsglue records)
        env["PYTHONPATH"] = os.pathsep.join([*self._awsglue(), *(str(p) for p in extra_py_files)])
        return [self.job_python, *script_argv], env

    def _awsglue(self) -> list[str]:
        return [self.awsglue_path] if self.awsglue_path else []


def has_awsglue(python: str) -> bool:
    """Whether ``python`` imports an awsglue of its own (the aws-glue-libs image's)."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('awsglue') is None)"
    try:
        return (
            subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


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


WARM_UP_SCRIPT = Path(__file__).with_name("spark_warm_up.py")


def build_class_archive(runtime: Runtime, target: Path) -> float:
    """Dumps the classes a driver loads over a small job (spark_warm_up) into ``target``, the
    archive later runs start from; written under another name first, so a crash leaves none.
    The size in MB."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    dump = f"{runtime.driver_java_options} -XX:ArchiveClassesAtExit={partial}".strip()
    # spark-submit: the dump is written as the JVM exits, which the command then waits for
    runtime = replace(runtime, spark_on_demand=False)
    with tempfile.TemporaryDirectory() as work:
        argv, env = runtime.command(
            "glueetl",
            WARM_UP_SCRIPT,
            [],
            {"--work_dir": work},
            "http://127.0.0.1:9",  # the warm-up reads and writes local files only
            config.DEFAULT_REGION,
            extra_conf={"spark.driver.extraJavaOptions": dump},
        )
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
    if done.returncode != 0 or not partial.is_file():
        raise RuntimeError(f"the Spark warm-up failed ({done.returncode}):\n{done.stderr[-3000:]}")
    os.replace(partial, target)
    return round(target.stat().st_size / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["class-archive"])
    parser.add_argument("--out", type=Path, help="default: where runs look for it")
    args = parser.parse_args()
    runtime = Runtime.from_env(os.environ)
    out = args.out or Path(runtime.class_archive or paths.SPARK_CLASS_ARCHIVE)
    size = build_class_archive(runtime, out)
    print(f"Spark class archive {out.name} ({size} MB)")


if __name__ == "__main__":
    main()
