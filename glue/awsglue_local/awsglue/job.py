"""``Job``: a run's start (``init``) and end (``commit``), which moves the job's bookmarks.

The local Glue API hands a run its job's committed bookmark state in the file the environment
names (``LOCAL_GLUE_JOB_BOOKMARK``) and keeps what ``commit`` writes beside it
(``….commit``) only when the run succeeds; without that file (a test, a notebook) the state
starts empty and is not kept.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from awsglue.bookmarks import Bookmarks

BOOKMARK_FILE = "LOCAL_GLUE_JOB_BOOKMARK"


def _argv_option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv[:-1]):
        if arg == f"--{name}":
            return argv[i + 1]
    return None


class Job:
    def __init__(self, glue_context):
        self._glue_context = glue_context
        self._name: str | None = None
        self._store: Path | None = None

    @classmethod
    def continuation_options(cls) -> list[str]:
        return [
            "--continuation-option",
            "continuation-enabled",
            "continuation-readonly",
            "continuation-ignore",
        ]

    @classmethod
    def job_bookmark_options(cls) -> list[str]:
        return [
            "--job-bookmark-option",
            "job-bookmark-enable",
            "job-bookmark-pause",
            "job-bookmark-disable",
        ]

    @classmethod
    def job_bookmark_range_options(cls) -> list[str]:
        return ["--job-bookmark-from", "--job-bookmark-to"]

    def isInitialized(self) -> bool:
        return self._name is not None

    def init(self, job_name: str, args: dict | None = None) -> None:
        args = args or {}
        option = (
            args.get("job_bookmark_option")
            or args.get("job-bookmark-option")
            or _argv_option(sys.argv, "job-bookmark-option")
            or "job-bookmark-disable"
        )
        store = os.environ.get(BOOKMARK_FILE)
        self._store = Path(store) if store else None
        state = {}
        if self._store is not None and self._store.is_file():
            state = json.loads(self._store.read_text() or "{}")
        self._glue_context._bookmarks = Bookmarks(option, state)
        self._name = job_name

    def commit(self) -> None:
        if not self.isInitialized():
            raise RuntimeError("Job.commit() before Job.init()")
        commit = self._store.with_name(self._store.name + ".commit") if self._store else None
        self._glue_context._bookmarks.commit_to(commit)
