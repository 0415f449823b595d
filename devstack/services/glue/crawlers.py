"""Crawlers: their definitions and state (READY → RUNNING → STOPPING → READY), each crawl in a
child process bounded in time and memory (``crawl``), its plan applied to the Data Catalog under
the crawler's ``SchemaChangePolicy`` and ``RecrawlPolicy``, its log in CloudWatch Logs
``/aws-glue/crawlers`` (one stream per crawler, as Glue writes it), its figures for
``GetCrawlerMetrics``. Persisted in ``crawlers.json`` of the state directory."""

from __future__ import annotations

import copy
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from pathlib import Path

import boto3

from devstack.services.glue import crawl
from devstack.services.glue import exceptions as err
from devstack.services.glue.catalog import (
    MAX_BATCH_DELETE_PARTITIONS,
    MAX_BATCH_PARTITIONS,
    Catalog,
)
from devstack.services.glue.models import page
from music_streaming import aws

LOG_GROUP = "/aws-glue/crawlers"
CRAWL_TIMEOUT_SECONDS = 600
CRAWL_MEMORY_BYTES = 1 << 30
MAX_CONCURRENT_CRAWLS = 2
UPDATE_BEHAVIORS = ("LOG", "UPDATE_IN_DATABASE")
DELETE_BEHAVIORS = ("LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE")
RECRAWL_BEHAVIORS = ("CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY", "CRAWL_EVENT_MODE")
INPUT_MEMBERS = (
    "Name", "Role", "DatabaseName", "Description", "Targets", "Schedule", "Classifiers",
    "TablePrefix", "SchemaChangePolicy", "RecrawlPolicy", "LineageConfiguration",
    "LakeFormationConfiguration", "Configuration", "CrawlerSecurityConfiguration",
)  # fmt: skip


class Crawlers:
    def __init__(
        self,
        state_dir: Path,
        catalog: Catalog,
        endpoint: str,
        region: str,
        timeout_seconds: float = CRAWL_TIMEOUT_SECONDS,
        memory_bytes: int = CRAWL_MEMORY_BYTES,
    ):
        self.catalog, self.endpoint, self.region = catalog, endpoint, region
        self.timeout_seconds, self.memory_bytes = timeout_seconds, memory_bytes
        self.lock = threading.RLock()
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT_CRAWLS)
        self.state_file = state_dir / "crawlers.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.crawlers: dict[str, dict] = state.get("crawlers", {})
        # the service's own: folders crawled (recrawl policy), run times, last counts
        self.history: dict[str, dict] = state.get("history", {})
        self.children: dict[str, multiprocessing.Process] = {}
        for crawler in self.crawlers.values():  # a crawl cut off by a restart did not finish
            self.history.get(crawler["Name"], {}).pop("current", None)
            if crawler["State"] != "READY":
                crawler["State"] = "READY"
                crawler["LastCrawl"] = {
                    **crawler.get("LastCrawl", {}),
                    "Status": "FAILED",
                    "ErrorMessage": "the local Glue service restarted during the crawl",
                }
        self._save()

    def _save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"crawlers": self.crawlers, "history": self.history}))
            tmp.replace(self.state_file)

    def _crawler(self, name: str, message: str = "Crawler entry with name {} does not exist"):
        if name not in self.crawlers:
            raise err.EntityNotFoundException(message.format(name))
        return self.crawlers[name]

    # -------------------------------------------------------------------- definitions
    @staticmethod
    def _validated(crawler: dict) -> dict:
        targets = crawler.get("Targets") or {}
        if not any(targets.get(kind) for kind in targets):
            raise err.InvalidInputException("Targets must name at least one target")
        for target in targets.get("S3Targets", []):
            if not target.get("Path"):
                raise err.InvalidInputException("An S3 target needs a Path")
        policy = crawler.setdefault(
            "SchemaChangePolicy",
            {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"},
        )
        policy.setdefault("UpdateBehavior", "UPDATE_IN_DATABASE")
        policy.setdefault("DeleteBehavior", "DEPRECATE_IN_DATABASE")
        recrawl = crawler.setdefault("RecrawlPolicy", {"RecrawlBehavior": "CRAWL_EVERYTHING"})
        if policy["UpdateBehavior"] not in UPDATE_BEHAVIORS:
            raise err.InvalidInputException(f"UpdateBehavior must be one of {UPDATE_BEHAVIORS}")
        if policy["DeleteBehavior"] not in DELETE_BEHAVIORS:
            raise err.InvalidInputException(f"DeleteBehavior must be one of {DELETE_BEHAVIORS}")
        if recrawl.get("RecrawlBehavior") not in RECRAWL_BEHAVIORS:
            raise err.InvalidInputException(f"RecrawlBehavior must be one of {RECRAWL_BEHAVIORS}")
        if recrawl["RecrawlBehavior"] == "CRAWL_NEW_FOLDERS_ONLY" and (
            policy["UpdateBehavior"] != "LOG" or policy["DeleteBehavior"] != "LOG"
        ):
            raise err.InvalidInputException(
                "The SchemaChangePolicy for Crawl New Folders Only Amazon S3 target can have "
                "only LOG DeleteBehavior value and LOG UpdateBehavior value."
            )
        if crawler.get("Configuration"):
            try:
                json.loads(crawler["Configuration"])
            except json.JSONDecodeError as exc:
                raise err.InvalidInputException(f"Configuration is not JSON: {exc}") from exc
        return crawler

    def create(self, request: dict) -> None:
        crawler = self._validated(
            {k: copy.deepcopy(request[k]) for k in INPUT_MEMBERS if k in request}
        )
        with self.lock:
            if crawler["Name"] in self.crawlers:
                raise err.AlreadyExistsException(f"{crawler['Name']} already exists")
            now = time.time()
            crawler.update(
                State="READY",
                CrawlElapsedTime=0,
                CreationTime=now,
                LastUpdated=now,
                Version=1,
            )
            crawler.setdefault("Classifiers", [])
            crawler.setdefault("LineageConfiguration", {"CrawlerLineageSettings": "DISABLE"})
            crawler.setdefault(
                "LakeFormationConfiguration",
                {"UseLakeFormationCredentials": False, "AccountId": ""},
            )
            if isinstance(crawler.get("Schedule"), str):
                crawler["Schedule"] = {
                    "ScheduleExpression": crawler["Schedule"],
                    "State": "SCHEDULED",
                }
            self.crawlers[crawler["Name"]] = crawler
            self.history[crawler["Name"]] = {"folders": [], "runtimes": [], "counts": {}}
            self._save()

    def update(self, request: dict) -> None:
        with self.lock:
            crawler = self._crawler(request["Name"])
            if crawler["State"] != "READY":
                raise err.InvalidInputException(
                    "Cannot update Crawler while running. Please stop crawl or wait until it "
                    "completes to update."
                )
            changed = copy.deepcopy(crawler)
            for key in INPUT_MEMBERS:
                if key in request:
                    changed[key] = copy.deepcopy(request[key])
            if isinstance(changed.get("Schedule"), str):
                changed["Schedule"] = {
                    "ScheduleExpression": changed["Schedule"],
                    "State": "SCHEDULED",
                }
            self._validated(changed)
            changed.update(LastUpdated=time.time(), Version=crawler["Version"] + 1)
            self.crawlers[request["Name"]] = changed
            self._save()

    def delete(self, name: str) -> None:
        with self.lock:
            crawler = self._crawler(name, "Crawler with name {} does not exist")
            if crawler["State"] != "READY":
                raise err.CrawlerRunningException(f"Crawler with name {name} is running")
            del self.crawlers[name]
            self.history.pop(name, None)
            self._save()

    def get(self, name: str) -> dict:
        with self.lock:
            crawler = copy.deepcopy(self._crawler(name))
            current = self.history.get(name, {}).get("current")
        if crawler["State"] != "READY" and current:
            crawler["CrawlElapsedTime"] = int((time.time() - current["started"]) * 1000)
        return crawler

    def get_many(self, request: dict) -> dict:
        with self.lock:
            names = sorted(self.crawlers)
        return page([self.get(n) for n in names], request, "Crawlers")

    def list_names(self, request: dict) -> dict:
        with self.lock:
            names = sorted(self.crawlers)
        return page(names, request, "CrawlerNames")

    def metrics(self, names: list[str] | None) -> list[dict]:
        with self.lock:
            chosen = [n for n in (names or sorted(self.crawlers)) if n in self.crawlers]
            out = []
            for name in chosen:
                history = self.history.get(name, {})
                runtimes = history.get("runtimes", [])
                counts = history.get("counts", {})
                running = self.crawlers[name]["State"] != "READY"
                out.append(
                    {
                        "CrawlerName": name,
                        "TimeLeftSeconds": 0.0,
                        "StillEstimating": running,
                        "LastRuntimeSeconds": runtimes[-1] if runtimes else 0.0,
                        "MedianRuntimeSeconds": statistics.median(runtimes) if runtimes else 0.0,
                        "TablesCreated": counts.get("created", 0),
                        "TablesUpdated": counts.get("updated", 0),
                        "TablesDeleted": counts.get("deleted", 0),
                    }
                )
            return out

    # ------------------------------------------------------------------------ crawling
    def start(self, name: str) -> None:
        with self.lock:
            crawler = self._crawler(name, "Crawler with name {} does not exist")
            if crawler["State"] != "READY":
                raise err.CrawlerRunningException(f"Crawler with name {name} has already started")
            run_id = str(uuid.uuid4())
            crawler["State"] = "RUNNING"  # LastCrawl stays the previous crawl's until this ends
            history = self.history.setdefault(name, {"folders": [], "runtimes": [], "counts": {}})
            history["current"] = {"run_id": run_id, "started": time.time()}
            self._save()
            request = {
                "crawler": copy.deepcopy(crawler),
                "known_tables": self._tables_made_by(crawler),
                "crawled_folders": list(self.history.get(name, {}).get("folders", [])),
                "run_id": run_id,
                "endpoint": self.endpoint,
                "region": self.region,
                "memory_bytes": self.memory_bytes,
            }
        threading.Thread(target=self._crawl, args=(name, request), daemon=True).start()

    def _tables_made_by(self, crawler: dict) -> list[dict]:
        try:
            tables = self.catalog.GetTables(
                {"DatabaseName": crawler["DatabaseName"], "MaxResults": 1000000}
            )["TableList"]
        except err.EntityNotFoundException:
            return []
        return [
            _table_input(t)
            for t in tables
            if t.get("Parameters", {}).get("UPDATED_BY_CRAWLER") == crawler["Name"]
        ]

    def stop(self, name: str) -> None:
        with self.lock:
            crawler = self._crawler(name, "Crawler with name {} does not exist")
            if crawler["State"] == "STOPPING":
                raise err.CrawlerStoppingException(f"Crawler with name {name} is stopping")
            if crawler["State"] != "RUNNING":
                raise err.CrawlerNotRunningException(f"Crawler with name {name} isn't running")
            crawler["State"] = "STOPPING"
            self._save()
            child = self.children.get(name)
        if child is not None and child.is_alive():
            child.terminate()

    def _crawl(self, name: str, request: dict) -> None:
        run_id = request["run_id"]
        lines = [f"BENCHMARK : Running Start Crawl for Crawler {name}"]
        with self.slots:
            context = multiprocessing.get_context("spawn")
            receive, send = context.Pipe(duplex=False)
            child = context.Process(
                target=crawl.run_in_child, args=(send, request), name=f"crawl {name}", daemon=True
            )
            with self.lock:
                stopping = self.crawlers.get(name, {}).get("State") == "STOPPING"
                if not stopping:
                    child.start()
                    self.children[name] = child
            send.close()
            outcome, timed_out = None, False
            if not stopping:
                timed_out = not receive.poll(self.timeout_seconds)
                if not timed_out:
                    try:
                        outcome = receive.recv()
                    except EOFError:  # ended without a word: killed, or out of memory
                        outcome = None
                child.join(5)
                if child.is_alive():
                    child.kill()
                    child.join()
        with self.lock:
            self.children.pop(name, None)
            stopped = self.crawlers.get(name, {}).get("State") == "STOPPING"
        if stopped:
            self._finish(
                name, run_id, "CANCELLED", None, lines + ["INFO : Crawl stopped by request"], {}
            )
            return
        if outcome is None:
            error = (
                f"the crawl exceeded its {self.timeout_seconds:.0f} s limit"
                if timed_out
                else f"the crawl's process ended without a result (exit code {child.exitcode})"
            )
            self._finish(name, run_id, "FAILED", error, lines + [f"ERROR : {error}"], {})
            return
        lines += outcome.get("log", [])
        if not outcome["ok"]:
            self._finish(
                name,
                run_id,
                "FAILED",
                outcome["error"],
                lines + [f"ERROR : {outcome['error']}"],
                {},
            )
            return
        try:
            counts = self._apply(request["crawler"], outcome["plan"], lines)
        except Exception as exc:  # noqa: BLE001 - the crawl fails with the reason
            error = f"{type(exc).__name__}: {exc}"
            self._finish(name, run_id, "FAILED", error, lines + [f"ERROR : {error}"], {})
            return
        folders = sorted({f for t in outcome["plan"]["tables"] for f in t["folders"]})
        self._finish(name, run_id, "SUCCEEDED", None, lines, counts, folders)

    def _apply(self, crawler: dict, found: dict, lines: list[str]) -> dict:
        """The plan into the catalog: new tables and partitions always; changed ones and gone
        ones as the SchemaChangePolicy says."""
        database = crawler["DatabaseName"]
        policy = crawler["SchemaChangePolicy"]
        lines.append(f"INFO : Crawler configured with SchemaChangePolicy {json.dumps(policy)}.")
        lines.append(f"BENCHMARK : Classification complete, writing results to database {database}")
        try:
            self.catalog.CreateDatabase({"DatabaseInput": {"Name": database}})
            lines.append(f"INFO : Created database {database}")
        except err.AlreadyExistsException:
            pass
        counts = {"created": 0, "updated": 0, "deleted": 0}
        seen = set()
        for table in found["tables"]:
            table_input, name = table["table_input"], table["name"]
            seen.add(name)
            try:
                existing = self.catalog.GetTable({"DatabaseName": database, "Name": name})["Table"]
            except err.EntityNotFoundException:
                existing = None
            if existing is None:
                self.catalog.CreateTable({"DatabaseName": database, "TableInput": table_input})
                counts["created"] += 1
                lines.append(f"INFO : Created table {name} in database {database}")
            elif _changed(existing, table_input):
                if policy["UpdateBehavior"] == "UPDATE_IN_DATABASE":
                    self.catalog.UpdateTable({"DatabaseName": database, "TableInput": table_input})
                    counts["updated"] += 1
                    lines.append(f"INFO : Updated table {name} in database {database}")
                else:
                    lines.append(f"INFO : Schema change of table {name} logged, not applied (LOG)")
            partitions = table["partitions"]
            for start in range(0, len(partitions), MAX_BATCH_PARTITIONS):
                self.catalog.BatchCreatePartition(
                    {
                        "DatabaseName": database,
                        "TableName": name,
                        "PartitionInputList": partitions[start : start + MAX_BATCH_PARTITIONS],
                    }
                )
            if partitions:
                lines.append(
                    f"INFO : {len(partitions)} partition(s) of table {name} in the catalog"
                )
            if policy["DeleteBehavior"] == "DELETE_FROM_DATABASE" and existing is not None:
                self._delete_missing_partitions(database, name, partitions, lines)
        new_only = crawler["RecrawlPolicy"]["RecrawlBehavior"] == "CRAWL_NEW_FOLDERS_ONLY"
        if not new_only:
            counts["deleted"] = self._gone_tables(crawler, seen, lines)
        lines.append("BENCHMARK : Finished writing to Catalog")
        return counts

    def _delete_missing_partitions(self, database, name, partitions, lines) -> None:
        present = {tuple(p["Values"]) for p in partitions}
        stored = self.catalog.GetPartitions(
            {"DatabaseName": database, "TableName": name, "MaxResults": 1000000}
        )
        gone = [
            {"Values": p["Values"]}
            for p in stored["Partitions"]
            if tuple(p["Values"]) not in present
        ]
        for start in range(0, len(gone), MAX_BATCH_DELETE_PARTITIONS):
            self.catalog.BatchDeletePartition(
                {
                    "DatabaseName": database,
                    "TableName": name,
                    "PartitionsToDelete": gone[start : start + MAX_BATCH_DELETE_PARTITIONS],
                }
            )
        if gone:
            lines.append(f"INFO : Deleted {len(gone)} partition(s) of table {name} no longer in S3")

    def _gone_tables(self, crawler: dict, seen: set[str], lines: list[str]) -> int:
        """Tables this crawler made whose data is gone: deleted, marked or logged."""
        database, behavior = (
            crawler["DatabaseName"],
            crawler["SchemaChangePolicy"]["DeleteBehavior"],
        )
        roots = [
            "s3://" + "/".join(filter(None, crawl.split_path(t["Path"])))
            for t in crawler["Targets"].get("S3Targets", [])
        ]
        deleted = 0
        tables = self.catalog.GetTables({"DatabaseName": database, "MaxResults": 1000000})[
            "TableList"
        ]
        for table in tables:
            location = table.get("StorageDescriptor", {}).get("Location", "")
            if (
                table["Name"] in seen
                or table.get("Parameters", {}).get("UPDATED_BY_CRAWLER") != crawler["Name"]
                or not any(location.startswith(r) for r in roots)
            ):
                continue
            if behavior == "DELETE_FROM_DATABASE":
                self.catalog.DeleteTable({"DatabaseName": database, "Name": table["Name"]})
                deleted += 1
                lines.append(f"INFO : Deleted table {table['Name']}: its data is gone")
            elif behavior == "DEPRECATE_IN_DATABASE":
                marked = _table_input(table)
                marked["Parameters"] = {
                    **marked.get("Parameters", {}),
                    "DEPRECATED_BY_CRAWLER": "1",
                }
                self.catalog.UpdateTable({"DatabaseName": database, "TableInput": marked})
                lines.append(f"INFO : Marked table {table['Name']} deprecated: its data is gone")
            else:
                lines.append(f"INFO : Table {table['Name']}: its data is gone (logged only)")
        return deleted

    def _finish(
        self, name, run_id, status, error, lines, counts, folders: list[str] | None = None
    ) -> None:
        lines.append("BENCHMARK : Crawler has finished running and is in state READY")
        with self.lock:
            crawler = self.crawlers.get(name)
            if crawler is None:  # deleted meanwhile: nothing to report to
                return
            history = self.history.setdefault(name, {"folders": [], "runtimes": [], "counts": {}})
            started = history.pop("current", {}).get("started", time.time())
            crawler["State"] = "READY"
            crawler["CrawlElapsedTime"] = 0
            crawler["LastCrawl"] = {
                "Status": status,
                "LogGroup": LOG_GROUP,
                "LogStream": name,
                "MessagePrefix": run_id,
                "StartTime": started,
                **({"ErrorMessage": error} if error else {}),
            }
            history["runtimes"] = (history["runtimes"] + [round(time.time() - started, 3)])[-20:]
            history["counts"] = counts
            if folders:
                history["folders"] = sorted(set(history["folders"]) | set(folders))
            self._save()
        self._ship_log(name, run_id, lines)

    def _ship_log(self, name: str, run_id: str, lines: list[str]) -> None:
        logs = boto3.client(
            "logs",
            endpoint_url=self.endpoint or None,
            region_name=self.region,
            config=aws.retrying(),
        )
        for call, kwargs in (
            (logs.create_log_group, {"logGroupName": LOG_GROUP}),
            (logs.create_log_stream, {"logGroupName": LOG_GROUP, "logStreamName": name}),
        ):
            try:
                call(**kwargs)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
        now = int(time.time() * 1000)
        try:
            logs.put_log_events(
                logGroupName=LOG_GROUP,
                logStreamName=name,
                logEvents=[{"timestamp": now, "message": f"[{run_id}] {line}"} for line in lines],
            )
        except Exception:  # noqa: BLE001 - logs are best effort; the crawl's state is kept
            pass


def _table_input(table: dict) -> dict:
    members = (
        "Name", "Description", "Owner", "Retention", "StorageDescriptor", "PartitionKeys",
        "TableType", "Parameters", "ViewOriginalText", "ViewExpandedText",
    )  # fmt: skip
    return {k: copy.deepcopy(table[k]) for k in members if k in table}


def _changed(existing: dict, table_input: dict) -> bool:
    def shape(table: dict) -> tuple:
        descriptor = table.get("StorageDescriptor", {})
        return (
            [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])],
            [(k["Name"], k["Type"]) for k in table.get("PartitionKeys", [])],
            descriptor.get("Location"),
            descriptor.get("SerdeInfo"),
            table.get("Parameters", {}).get("classification"),
        )

    return shape(existing) != shape(table_input)
