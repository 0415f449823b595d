"""A run's life as a process: download the script and its files, start it in its own process
group, ship its logs, enforce the Timeout, stop it on request, and tell the backend how it ended.
Every signal goes to the whole group and only while the process is known to be the one started
(its identity is checked, never a pid alone)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3

from devstack.core import emulator
from devstack.services.glue import runtime as glue_runtime
from devstack.services.glue.logs import LogShipper
from music_streaming import aws, layout

log = logging.getLogger("glue_service")
# Arguments Glue consumes itself instead of passing to the script.
GLUE_ONLY_ARGUMENTS = (
    "--extra-py-files",
    "--extra-jars",
    "--additional-python-modules",
    "--conf",
    "--enable-continuous-cloudwatch-log",
    "--job-language",
    "--TempDir",
    "--enable-metrics",
    "--enable-glue-datacatalog",
    "--enable-spark-ui",
    "--spark-event-logs-path",
)
BOOKMARK_FILE = "job-bookmark.json"  # the job's committed state, for the run (awsglue.job)
STOP_GRACE_SECONDS = 10


def process_identity(pid: int | None) -> str | None:
    """What tells this process from a later one given the same pid: boot id and start time."""
    if not pid:
        return None
    try:
        if Path("/proc/self/stat").exists():
            started = (
                Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
            )  # field 22: start time
            boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
            return f"{boot}:{started}"
        shown = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        return shown.stdout.strip() or None
    except (OSError, IndexError):
        return None


def stop_group(group: int, identity: str | None, grace_seconds: float = STOP_GRACE_SECONDS):
    """SIGTERM to a run's process group, SIGKILL to whatever of it is left after the grace
    period; nothing when the group leader is no longer the process that was started."""
    if identity is None or process_identity(group) != identity:
        return
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


ROLE_SESSION_SECONDS = 3600  # the emulator's default limit of a role session, as IAM's


class RunSupervisor:
    def __init__(
        self,
        backend,
        runtime: glue_runtime.Runtime,
        endpoint: str,
        region: str,
        glue_endpoint: str,
        act_as_job_role: bool = False,
    ):
        self.backend = backend
        self.runtime = runtime
        self.endpoint, self.region, self.glue_endpoint = endpoint, region, glue_endpoint
        # As Glue does: a run reads its script and does its work with a session of the job's role
        self.act_as_job_role = act_as_job_role
        self.processes: dict[str, tuple[subprocess.Popen, str | None]] = {}

    def role_session(self, job: dict, run_id: str) -> dict[str, str]:
        """Session credentials of the job's role from the emulator's STS (boto3 arguments)."""
        sts = boto3.client("sts", endpoint_url=self.endpoint, region_name=self.region)
        return emulator.assume_role(
            sts, job["Role"], f"GlueJobRunnerSession-{run_id[-20:]}", ROLE_SESSION_SECONDS
        )

    def start(self, job: dict, run: dict) -> None:
        threading.Thread(
            target=self._execute, args=(job, run), daemon=True, name=run["Id"][:12]
        ).start()

    def signal_stop(self, run_id: str) -> None:
        """SIGTERM to a live run's group; called under the backend's lock, where the run's
        process cannot be reaped meanwhile (the supervisor polls it under the same lock)."""
        process, identity = self.processes.get(run_id, (None, None))
        if process is not None and process.poll() is None:
            threading.Thread(target=stop_group, args=(process.pid, identity), daemon=True).start()

    def _download(self, s3, url: str, target_dir: Path) -> Path:
        bucket, key = layout.split_s3_url(url)
        target = target_dir / Path(key).name
        s3.download_file(bucket, key, str(target))
        return target

    def _command(
        self, job: dict, run: dict, run_dir: Path, session: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, config=aws.retrying(), **session
        )  # waits out a restart
        script = self._download(s3, job["Command"]["ScriptLocation"], run_dir)
        arguments = dict(run["Arguments"])
        job_type = job["Command"]["Name"]
        event_logs = spark_ui_conf(s3, arguments) if job_type == "glueetl" else {}
        extra = [
            self._download(s3, u, run_dir)
            for u in filter(None, arguments.get("--extra-py-files", "").split(","))
        ]
        jars = [
            self._download(s3, u, run_dir)
            for u in filter(None, arguments.get("--extra-jars", "").split(","))
        ]
        for reserved in GLUE_ONLY_ARGUMENTS:
            arguments.pop(reserved, None)
        arguments.setdefault("--JOB_NAME", run["JobName"])
        arguments.update({"--JOB_ID": f"j_{run['JobName']}", "--JOB_RUN_ID": run["Id"]})
        argv, env = self.runtime.command(
            job_type,
            script,
            extra,
            arguments,
            self.endpoint,
            self.region,
            run_name=run["Id"],
            extra_conf={**event_logs, **emulator.s3a_session(session)},
            extra_jars=jars,
        )
        if session:
            env.update(
                AWS_ACCESS_KEY_ID=session["aws_access_key_id"],
                AWS_SECRET_ACCESS_KEY=session["aws_secret_access_key"],
                AWS_SESSION_TOKEN=session["aws_session_token"],
            )
        if self.glue_endpoint:
            env["AWS_ENDPOINT_URL_GLUE"] = self.glue_endpoint
        bookmark = run_dir / BOOKMARK_FILE
        bookmark.write_text(json.dumps(self.backend.bookmark_state(run["JobName"])))
        env["LOCAL_GLUE_JOB_BOOKMARK"] = str(bookmark)
        return argv, env

    def _execute(self, job: dict, run: dict) -> None:
        run_id = run["Id"]
        run_dir = self.backend.state_dir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = run_dir / "stdout.log", run_dir / "stderr.log"
        files = {"output": out_path, "error": err_path}
        if job["Command"]["Name"] == "glueetl":  # continuous logging's driver stream, as Glue 3+
            files["logs-v2"] = err_path
        shipper = LogShipper(self.endpoint, run_id, files)
        outcome: tuple[str, str | None] = ("FAILED", "the run ended without an outcome")
        try:
            self.backend.take_injected_failure(run["JobName"])
            session = self.role_session(job, run_id) if self.act_as_job_role else {}
            shipper = LogShipper(self.endpoint, run_id, files, session)  # as the role, too
            argv, env = self._command(job, run, run_dir, session)
            with self.backend.lock:
                if self.backend.stop_requested(run_id):
                    outcome = ("STOPPED", None)
                    return
                with out_path.open("wb") as out, err_path.open("wb") as err:
                    process = subprocess.Popen(
                        argv,
                        env=env,
                        stdout=out,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        cwd=run_dir,
                        start_new_session=True,
                    )  # start_new_session: the pid is the run's process group
                identity = process_identity(process.pid)
                self.processes[run_id] = (process, identity)
                self.backend.run_started(run_id, process.pid, identity)
            deadline = run["StartedOn"] + 60 * float(run["Timeout"])
            timed_out = False
            while True:
                with self.backend.lock:  # reaped only here, under the lock signal_stop takes
                    if process.poll() is not None:
                        break
                shipper.ship()
                if time.time() > deadline:
                    timed_out = True
                    stop_group(process.pid, identity)  # the whole group, not just its leader
                    process.wait()
                    break
                time.sleep(0.5)
            shipper.ship()  # the last lines reach the logs before the run reads as finished
            if self.backend.stop_requested(run_id):
                outcome = ("STOPPED", None)
            elif timed_out:
                outcome = ("TIMEOUT", f"Job run timed out after {run['Timeout']} minutes")
            elif process.returncode == 0:
                outcome = ("SUCCEEDED", None)
            else:
                outcome = ("FAILED", error_message(out_path, err_path, process.returncode))
        except Exception as exc:  # any setup failure is the run's failure
            log.exception("run %s of %s failed to start", run_id, run["JobName"])
            outcome = ("FAILED", f"{type(exc).__name__}: {exc}")
        finally:
            with self.backend.lock:
                self.processes.pop(run_id, None)
            commit = run_dir / (BOOKMARK_FILE + ".commit")
            self.backend.run_finished(
                run_id, *outcome, bookmark=commit if commit.exists() else None
            )
            shipper.ship()


def spark_ui_conf(s3, arguments: dict) -> dict[str, str]:
    """Glue's ``--enable-spark-ui`` / ``--spark-event-logs-path`` as Spark's event log settings
    (``scripts/spark-ui`` serves them), in a directory that exists."""
    if arguments.get("--enable-spark-ui", "false").lower() != "true":
        return {}
    path = arguments.get("--spark-event-logs-path", "")
    bucket, prefix = layout.split_s3_url(path)
    if not path.startswith("s3://") or not bucket:
        raise ValueError(
            f"--enable-spark-ui needs --spark-event-logs-path s3://bucket/prefix/, not {path!r}"
        )
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    if prefix:
        aws.ensure_directory(s3, bucket, prefix)
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"s3://{bucket}/{prefix}",
        "spark.eventLog.compress": "true",  # a 50k-stream run logs ~5 MB, ~0.5 MB compressed
    }


def error_message(out_path: Path, err_path: Path, code: int) -> str:
    """Glue-like ErrorMessage: the last exception line the script printed, else the exit code."""
    for path in (out_path, err_path):
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        for line in reversed(lines):
            head = line.split(":", 1)[0].strip()
            if head.endswith(("Error", "Exception")) and " " not in head:
                return line.strip()[:2000]
    return f"Command failed with exit code {code}"
