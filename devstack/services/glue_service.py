"""A local AWS Glue API: the subset the Amazon provider's GlueJobOperator/GlueJobHook and the AWS
CLI use (CreateJob, GetJob, GetJobs, UpdateJob, DeleteJob, StartJobRun, GetJobRun, GetJobRuns,
BatchStopJobRun) and the Data Catalog operations of ``glue_catalog``, on Glue's JSON 1.1
protocol with Glue's error shapes.

A run downloads the job's ScriptLocation and ``--extra-py-files`` from S3 (the emulator) and runs
them as Glue does (``glueetl``: spark-submit; ``pythonshell``: python; arguments ``--key value``,
job defaults merged with run arguments), honours Timeout and MaxConcurrentRuns, and ships stdout
and stderr to CloudWatch Logs ``/aws-glue/jobs/output`` and ``/aws-glue/jobs/error`` (stream = run
id) while it runs. A run's AWS calls go to the emulator, its Glue calls (the catalog) to this
service. Job definitions, runs and the catalog persist in the state directory.

    python -m devstack.services.glue_service --port 4580 --state-dir .stack/glue --endpoint http://127.0.0.1:4566
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3

from devstack.services import glue_catalog, glue_exec, http_api
from devstack.services.http_api import ApiError
from music_streaming import aws, config, layout

log = logging.getLogger("glue_service")
ACTIVE = ("STARTING", "RUNNING", "STOPPING")
LOG_GROUP = "/aws-glue/jobs"
DEFAULT_TIMEOUT_MINUTES = 2880
# Arguments Glue consumes itself instead of passing to the script.
GLUE_ONLY_ARGUMENTS = (
    "--extra-py-files",
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


class GlueJobs:
    def __init__(
        self,
        state_dir: Path,
        endpoint: str,
        region: str = config.DEFAULT_REGION,
        runtime: glue_exec.Runtime | None = None,
        glue_endpoint: str = "",
    ):
        self.state_dir = state_dir
        self.endpoint, self.region = endpoint, region
        self.glue_endpoint = glue_endpoint  # this service, for the catalog calls of runs
        self.runtime = runtime or glue_exec.Runtime()
        self.lock = threading.RLock()
        self.processes: dict[str, subprocess.Popen] = {}
        self.stop_requested: set[str] = set()
        self.fail_next: dict[str, int] = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = state_dir / "glue_state.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.jobs: dict[str, dict] = state.get("jobs", {})
        self.runs: dict[str, dict[str, dict]] = state.get("runs", {})
        for runs in self.runs.values():  # runs cut off by a restart did not finish
            for run in runs.values():
                if run["JobRunState"] in ACTIVE:
                    # Its process survives us (own session): stop it, or it would keep writing
                    # the batch beside Airflow's retry of the same run.
                    stop_process_group(run.get("ProcessGroup"))
                    self._finish(run, "FAILED", "the local Glue service restarted during the run")
        self._save()

    # ------------------------------------------------------------------ persistence, helpers
    def _save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"jobs": self.jobs, "runs": self.runs}, default=str))
            tmp.replace(self.state_file)

    def _job(self, name: str) -> dict:
        if name not in self.jobs:
            raise ApiError(400, "EntityNotFoundException", f"Job {name} not found")
        return self.jobs[name]

    def _finish(self, run: dict, state: str, error: str | None = None) -> None:
        now = time.time()
        run.update(
            JobRunState=state,
            CompletedOn=now,
            LastModifiedOn=now,
            ExecutionTime=int(now - run["StartedOn"]),
        )
        if error:
            run["ErrorMessage"] = error

    # ------------------------------------------------------------------------- job API
    def CreateJob(self, req: dict) -> dict:
        for field in ("Name", "Role", "Command"):
            if not req.get(field):
                raise ApiError(400, "InvalidInputException", f"{field} is required")
        with self.lock:
            if req["Name"] in self.jobs:
                raise ApiError(400, "AlreadyExistsException", f"Job {req['Name']} already exists")
            now = time.time()
            self.jobs[req["Name"]] = {**req, "CreatedOn": now, "LastModifiedOn": now}
            self._save()
        return {"Name": req["Name"]}

    def GetJob(self, req: dict) -> dict:
        return {"Job": self._job(req["JobName"])}

    def GetJobs(self, req: dict) -> dict:
        return {"Jobs": [self.jobs[n] for n in sorted(self.jobs)]}

    def UpdateJob(self, req: dict) -> dict:
        with self.lock:
            job = self._job(req["JobName"])
            # UpdateJob replaces the definition (as in Glue), keeping name and creation time.
            self.jobs[req["JobName"]] = {
                **req["JobUpdate"],
                "Name": req["JobName"],
                "CreatedOn": job["CreatedOn"],
                "LastModifiedOn": time.time(),
            }
            self._save()
        return {"JobName": req["JobName"]}

    def DeleteJob(self, req: dict) -> dict:
        with self.lock:
            self.jobs.pop(req["JobName"], None)
            self._save()
        return {"JobName": req["JobName"]}

    # ------------------------------------------------------------------------- run API
    def StartJobRun(self, req: dict) -> dict:
        with self.lock:
            job = self._job(req["JobName"])
            runs = self.runs.setdefault(req["JobName"], {})
            limit = job.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1)
            active = sum(r["JobRunState"] in ACTIVE for r in runs.values())
            if active >= limit:
                raise ApiError(
                    400,
                    "ConcurrentRunsExceededException",
                    f"Concurrent runs exceeded for {req['JobName']} "
                    f"({active} active, MaxConcurrentRuns {limit})",
                )
            arguments = {**job.get("DefaultArguments", {}), **req.get("Arguments", {})}
            size = sum(len(k.encode()) + len(str(v).encode()) for k, v in arguments.items())
            if size > config.MAX_JOB_ARGUMENTS_BYTES:  # as Glue's validation refuses them
                raise ApiError(
                    400,
                    "InvalidInputException",
                    f"Job arguments are {size} bytes; the maximum size is 260KB",
                )
            run_id = "jr_" + secrets.token_hex(32)
            now = time.time()
            run = {
                "Id": run_id,
                "Attempt": 0,
                "JobName": req["JobName"],
                "StartedOn": now,
                "LastModifiedOn": now,
                "JobRunState": "STARTING",
                "Arguments": arguments,
                "PredecessorRuns": [],
                "ExecutionTime": 0,
                "Timeout": req.get("Timeout") or job.get("Timeout") or DEFAULT_TIMEOUT_MINUTES,
                "MaxCapacity": job.get("MaxCapacity"),
                "WorkerType": job.get("WorkerType"),
                "NumberOfWorkers": job.get("NumberOfWorkers"),
                "GlueVersion": job.get("GlueVersion"),
                "LogGroupName": LOG_GROUP,
            }
            runs[run_id] = {k: v for k, v in run.items() if v is not None}
            self._save()
        threading.Thread(
            target=self._execute, args=(job, runs[run_id]), daemon=True, name=run_id[:12]
        ).start()
        return {"JobRunId": run_id}

    def _run(self, req: dict) -> dict:
        self._job(req["JobName"])
        run = self.runs.get(req["JobName"], {}).get(req["RunId"])
        if run is None:
            raise ApiError(400, "EntityNotFoundException", f"Job run {req['RunId']} not found")
        return run

    def GetJobRun(self, req: dict) -> dict:
        return {"JobRun": self._run(req)}

    def GetJobRuns(self, req: dict) -> dict:
        self._job(req["JobName"])
        runs = sorted(
            self.runs.get(req["JobName"], {}).values(), key=lambda r: r["StartedOn"], reverse=True
        )
        start = int(req.get("NextToken") or 0)
        size = int(req.get("MaxResults") or 100)
        reply = {"JobRuns": runs[start : start + size]}
        if start + size < len(runs):
            reply["NextToken"] = str(start + size)
        return reply

    def BatchStopJobRun(self, req: dict) -> dict:
        done, errors = [], []
        for run_id in req.get("JobRunIds", []):
            try:
                run = self._run({"JobName": req["JobName"], "RunId": run_id})
            except ApiError as exc:
                errors.append(
                    {
                        "JobName": req["JobName"],
                        "JobRunId": run_id,
                        "ErrorDetail": {"ErrorCode": exc.code, "ErrorMessage": exc.message},
                    }
                )
                continue
            if run["JobRunState"] not in ACTIVE:
                errors.append(
                    {
                        "JobName": req["JobName"],
                        "JobRunId": run_id,
                        "ErrorDetail": {
                            "ErrorCode": "InvalidInputException",
                            "ErrorMessage": f"Job run is {run['JobRunState']}",
                        },
                    }
                )
                continue
            with self.lock:
                self.stop_requested.add(run_id)
                run["JobRunState"] = "STOPPING"
                process = self.processes.get(run_id)
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
            done.append({"JobName": req["JobName"], "JobRunId": run_id})
        return {"SuccessfulSubmissions": done, "Errors": errors}

    # ---------------------------------------------------------------------- local extras
    def FailNextRuns(self, req: dict) -> dict:
        """Not a Glue API: makes the next ``Count`` runs of a job fail (failure-path tests)."""
        with self.lock:
            self.fail_next[req["JobName"]] = int(req.get("Count", 1))
        return {}

    def DeleteJobRuns(self, req: dict) -> dict:
        """Not a Glue API: forgets a job's finished runs and their output (``scripts/reset``);
        refused while one is active."""
        with self.lock:
            self._job(req["JobName"])
            runs = self.runs.get(req["JobName"], {})
            active = sorted(i for i, r in runs.items() if r["JobRunState"] in ACTIVE)
            if active:
                raise ApiError(
                    400,
                    "ConcurrentModificationException",
                    f"{req['JobName']} has active runs: {', '.join(active)}",
                )
            self.runs[req["JobName"]] = {}
            self._save()
        for run_id in runs:
            shutil.rmtree(self.state_dir / "runs" / run_id, ignore_errors=True)
        return {"Deleted": len(runs)}

    # ------------------------------------------------------------------------ execution
    def _download(self, s3, url: str, target_dir: Path) -> Path:
        bucket, key = layout.split_s3_url(url)
        target = target_dir / Path(key).name
        s3.download_file(bucket, key, str(target))
        return target

    def _execute(self, job: dict, run: dict) -> None:
        run_id, name = run["Id"], run["JobName"]
        run_dir = self.state_dir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = run_dir / "stdout.log", run_dir / "stderr.log"
        shipper = LogShipper(self.endpoint, run_id, {"output": out_path, "error": err_path})
        try:
            with self.lock:
                injected = self.fail_next.get(name, 0)
                if injected:
                    self.fail_next[name] = injected - 1
            if injected:
                raise RuntimeError("injected failure (FailNextRuns)")
            # the downloads (and the log shipping) wait out an emulator restart
            s3 = boto3.client("s3", endpoint_url=self.endpoint, config=aws.retrying())
            script = self._download(s3, job["Command"]["ScriptLocation"], run_dir)
            arguments = dict(run["Arguments"])
            event_logs = spark_ui_conf(s3, arguments) if job["Command"]["Name"] == "glueetl" else {}
            extra = [
                self._download(s3, u, run_dir)
                for u in filter(None, arguments.get("--extra-py-files", "").split(","))
            ]
            for reserved in GLUE_ONLY_ARGUMENTS:
                arguments.pop(reserved, None)
            arguments.setdefault("--JOB_NAME", name)
            arguments.update({"--JOB_ID": f"j_{name}", "--JOB_RUN_ID": run_id})
            argv, env = self.runtime.command(
                job["Command"]["Name"],
                script,
                extra,
                arguments,
                self.endpoint,
                self.region,
                run_name=run_id,
                extra_conf=event_logs,
            )
            if self.glue_endpoint:
                env["AWS_ENDPOINT_URL_GLUE"] = self.glue_endpoint
            with self.lock:
                if run_id in self.stop_requested:
                    self._finish(run, "STOPPED")
                    return
                run.update(JobRunState="RUNNING", LastModifiedOn=time.time())
                self._save()
                with out_path.open("wb") as out, err_path.open("wb") as err:
                    process = subprocess.Popen(
                        argv,
                        env=env,
                        stdout=out,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        cwd=run_dir,
                        start_new_session=True,
                    )
                self.processes[run_id] = process
                run["ProcessGroup"] = process.pid  # start_new_session: pid == process group id
                self._save()
            deadline = run["StartedOn"] + 60 * float(run["Timeout"])
            timed_out = False
            while process.poll() is None:
                shipper.ship()
                if time.time() > deadline:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.5)
            shipper.ship()  # the last lines reach the logs before the run reads as finished
            with self.lock:
                self.processes.pop(run_id, None)
                if run_id in self.stop_requested:
                    self._finish(run, "STOPPED")
                elif timed_out:
                    self._finish(
                        run, "TIMEOUT", f"Job run timed out after {run['Timeout']} minutes"
                    )
                elif process.returncode == 0:
                    self._finish(run, "SUCCEEDED")
                else:
                    self._finish(
                        run, "FAILED", error_message(out_path, err_path, process.returncode)
                    )
        except Exception as exc:  # any setup failure is the run's failure
            log.exception("run %s of %s failed to start", run_id, name)
            with self.lock:
                self._finish(run, "FAILED", f"{type(exc).__name__}: {exc}")
        finally:
            with self.lock:
                self._save()
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


def stop_process_group(group: int | None, grace_seconds: float = 10) -> None:
    """SIGTERM to a run's process group, SIGKILL if it is still there after the grace period."""
    if not group:
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


def error_message(out_path: Path, err_path: Path, code: int) -> str:
    """Glue-like ErrorMessage: the last exception line the script printed, else the exit code."""
    for path in (out_path, err_path):
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        for line in reversed(lines):
            head = line.split(":", 1)[0].strip()
            if head.endswith(("Error", "Exception")) and " " not in head:
                return line.strip()[:2000]
    return f"Command failed with exit code {code}"


class LogShipper:
    """Copies new lines of the run's files to CloudWatch Logs ``/aws-glue/jobs/{kind}``."""

    def __init__(self, endpoint: str, stream: str, files: dict[str, Path]):
        self.logs = boto3.client("logs", endpoint_url=endpoint, config=aws.retrying())
        self.stream, self.files = stream, files
        self.offsets = dict.fromkeys(files, 0)
        self.ready: set[str] = set()

    def _ensure(self, group: str) -> None:
        if group in self.ready:
            return
        for call, kwargs in (
            (self.logs.create_log_group, {"logGroupName": group}),
            (self.logs.create_log_stream, {"logGroupName": group, "logStreamName": self.stream}),
        ):
            try:
                call(**kwargs)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
        self.ready.add(group)

    def ship(self) -> None:
        for kind, path in self.files.items():
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(self.offsets[kind])
                data = handle.read()
            end = data.rfind(b"\n") + 1
            if not end:
                continue
            self.offsets[kind] += end
            now = int(time.time() * 1000)
            events = [
                {"timestamp": now, "message": line}
                for line in data[:end].decode(errors="replace").splitlines()
                if line
            ]
            group = f"{LOG_GROUP}/{kind}"
            try:
                self._ensure(group)
                for start in range(0, len(events), 5000):
                    self.logs.put_log_events(
                        logGroupName=group,
                        logStreamName=self.stream,
                        logEvents=events[start : start + 5000],
                    )
            except Exception:  # logs are best effort; the run goes on
                log.exception("could not ship logs of %s", self.stream)


def service(jobs: GlueJobs, catalog: glue_catalog.Catalog) -> http_api.Service:
    """Glue's JSON protocol: the operation in X-Amz-Target, its input as the body."""

    def handle(request: http_api.Request) -> dict:
        target = request.header("X-Amz-Target")
        operation = target.split(".", 1)[-1]
        handler = None
        if target.startswith("AWSGlue.") and operation[:1].isupper():
            handler = getattr(jobs, operation, None) or getattr(catalog, operation, None)
        if handler is None:
            raise ApiError(
                400,
                "UnknownOperationException",
                f"{target or 'no X-Amz-Target'} is not supported by the local Glue service",
            )
        return handler(request.json())

    return handle


def handler_class(jobs: GlueJobs, catalog: glue_catalog.Catalog, guard: http_api.Guard):
    return http_api.handler_class(
        service(jobs, catalog),
        lambda: {"status": "healthy", "jobs": len(jobs.jobs)},
        "application/x-amz-json-1.1",
        "InvalidInputException",
        guard,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    http_api.add_guard_arguments(parser)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True, help="the S3/Logs emulator")
    parser.add_argument("--region", default=config.DEFAULT_REGION)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    jobs = GlueJobs(
        args.state_dir,
        args.endpoint,
        args.region,
        glue_exec.Runtime.from_env(os.environ),
        glue_endpoint=f"http://127.0.0.1:{args.port}",
    )
    log.info(
        "local Glue API on http://%s:%d (S3 and logs at %s)", args.host, args.port, args.endpoint
    )
    guard = http_api.guard_from(args, "glue", args.region, os.environ)
    catalog = glue_catalog.Catalog(args.state_dir)
    http_api.serve(args.host, args.port, handler_class(jobs, catalog, guard))


if __name__ == "__main__":
    main()
