"""Job bookmarks: which files a job's earlier committed runs read, per ``transformation_ctx``.

As Glue describes S3 bookmarks: an object counts as read once a committed run read it, by its
last-modified time. The state keeps, per context, the newest time read (``high``) and the objects
read within ``WINDOW_SECONDS`` below it (an upload that started earlier may land later); older
objects count as read without being listed. The local Glue API hands a run the job's committed
state and keeps the state a run commits only if the run succeeds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from awsglue.storage import StoredFile

log = logging.getLogger("awsglue")
WINDOW_SECONDS = 900
OPTIONS = ("job-bookmark-enable", "job-bookmark-disable", "job-bookmark-pause")


class Bookmarks:
    def __init__(self, option: str = "job-bookmark-disable", state: dict | None = None):
        if option not in OPTIONS:
            raise ValueError(
                f"--job-bookmark-option {option!r}: expected one of {', '.join(OPTIONS)}"
            )
        self.option = option
        self.committed: dict = dict(state or {})
        self.pending: dict = json.loads(json.dumps(self.committed))

    @property
    def active(self) -> bool:
        return self.option != "job-bookmark-disable"

    def new_files(self, ctx: str, files: list[StoredFile]) -> list[StoredFile]:
        """The files no committed run read; recorded as read by this run (``enable``)."""
        if not self.active or not ctx:
            return files
        seen = self.committed.get(ctx, {"high": 0.0, "recent": {}})
        fresh = [
            f
            for f in files
            if f.modified > seen["high"]
            or (f.modified > seen["high"] - WINDOW_SECONDS and f.uri not in seen["recent"])
        ]
        if self.option == "job-bookmark-enable" and fresh:
            mine = self.pending.setdefault(
                ctx, {"high": seen["high"], "recent": dict(seen["recent"])}
            )
            mine["high"] = max(mine["high"], *(f.modified for f in fresh))
            mine["recent"].update({f.uri: f.modified for f in fresh})
            mine["recent"] = {
                uri: t for uri, t in mine["recent"].items() if t > mine["high"] - WINDOW_SECONDS
            }
        return fresh

    def commit_to(self, path: Path | None) -> None:
        """The state to keep if the run succeeds (``pause`` and ``disable`` keep none)."""
        if self.option != "job-bookmark-enable":
            return
        if path is None:
            log.warning("job bookmarks: no bookmark store for this run; the state is not kept")
            return
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.pending))
        partial.replace(path)
