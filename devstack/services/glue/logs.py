"""A run's stdout and stderr, shipped line by line to CloudWatch Logs as Glue ships them:
``/aws-glue/jobs/output`` and ``/aws-glue/jobs/error``, one stream per run id (a Spark run's
driver log also to ``/aws-glue/jobs/logs-v2``, continuous logging's group)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import boto3

from music_streaming import aws

log = logging.getLogger("glue_service")
LOG_GROUP = "/aws-glue/jobs"
MAX_EVENTS_PER_CALL = 5000  # PutLogEvents' limit


class LogShipper:
    """Copies new lines of the run's files to CloudWatch Logs ``/aws-glue/jobs/{kind}``."""

    def __init__(
        self, endpoint: str, stream: str, files: dict[str, Path], credentials: dict | None = None
    ):
        self.logs = boto3.client(
            "logs", endpoint_url=endpoint, config=aws.retrying(), **(credentials or {})
        )
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
                for start in range(0, len(events), MAX_EVENTS_PER_CALL):
                    self.logs.put_log_events(
                        logGroupName=group,
                        logStreamName=self.stream,
                        logEvents=events[start : start + MAX_EVENTS_PER_CALL],
                    )
            except Exception:  # logs are best effort; the run goes on
                log.exception("could not ship logs of %s", self.stream)
