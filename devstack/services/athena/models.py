"""The local Athena API's state: workgroups and query executions (QUEUED → RUNNING → SUCCEEDED,
FAILED or CANCELLED), run two at a time by ``engine``; each result written where Athena writes it
(``{OutputLocation}/{QueryExecutionId}.csv`` with a header and every value quoted, ``.txt`` for
DDL and utility statements, each with its ``.metadata``) and kept for GetQueryResults. Persisted
in ``athena_state.json`` of the state directory; replies are copies made under the lock."""

from __future__ import annotations

import copy
import csv
import io
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from devstack.services.athena import ddl, engine
from devstack.services.athena import exceptions as err

DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
ENGINE_VERSION = {
    "SelectedEngineVersion": "AUTO",
    "EffectiveEngineVersion": "Athena engine version 3",
}
NO_OUTPUT = (
    "No output location provided. An output location is required either through the Workgroup "
    "result configuration setting or as an API input."
)
MAX_RESULTS = 1000
MAX_LIST = 50
CACHE_DAYS = 1  # fetched data files older than this go when the service starts


def workgroup(name: str, output_location: str = "", enforce: bool = False) -> dict:
    configuration = {
        "EnforceWorkGroupConfiguration": enforce,
        "PublishCloudWatchMetricsEnabled": False,
        "RequesterPaysEnabled": False,
        "EngineVersion": dict(ENGINE_VERSION),
    }
    if output_location:
        configuration["ResultConfiguration"] = {"OutputLocation": output_location}
    return {
        "Name": name,
        "State": "ENABLED",
        "Configuration": configuration,
        "Description": "",
        "CreationTime": time.time(),
    }


def metadata(query_id: str, columns: list[engine.Column]) -> bytes:
    """The ``.metadata`` beside a result: the column list in protocol-buffer form (its layout is
    not documented; this follows what third-party readers parse: field 1 the query id, field 4
    one message per column with catalog, name, label, type, precision, scale, nullable)."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(number: int, value: bytes | int) -> bytes:
        if isinstance(value, int):
            return varint(number << 3) + varint(value)
        return varint(number << 3 | 2) + varint(len(value)) + value

    body = field(1, query_id.encode())
    for c in columns:
        info = (
            field(1, b"hive")
            + field(4, c.name.encode())
            + field(5, c.name.encode())
            + field(6, c.type.encode())
            + field(7, c.precision)
            + field(8, c.scale)
            + field(9, 2)  # nullable: unknown
        )
        body += field(4, info)
    return body


class AthenaBackend:
    def __init__(self, state_dir: Path, glue, s3, workgroups: list[dict] = ()):
        self.state_dir, self.glue, self.s3 = state_dir, glue, s3
        self.lock = threading.RLock()
        self.pool = ThreadPoolExecutor(2, thread_name_prefix="athena")
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "results").mkdir(exist_ok=True)
        cache = state_dir / "cache"
        for cached in cache.glob("*") if cache.is_dir() else ():  # files no query read lately
            if cached.stat().st_mtime < time.time() - CACHE_DAYS * 86400:
                cached.unlink(missing_ok=True)
        self.state_file = state_dir / "athena_state.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.executions: dict[str, dict] = state.get("executions", {})
        self.tokens: dict[str, str] = state.get("tokens", {})
        self.workgroups = {"primary": workgroup("primary")}
        self.workgroups.update({w["Name"]: w for w in workgroups})
        for execution in self.executions.values():  # queries cut off by a restart
            if execution["Status"]["State"] not in DONE:
                self._end(execution, "FAILED", "the local Athena service restarted", 0, 3)
        self._save()

    def _save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"executions": self.executions, "tokens": self.tokens}))
            tmp.replace(self.state_file)

    # ---------------------------------------------------------------------- workgroups
    def get_workgroup(self, name: str) -> dict:
        if name not in self.workgroups:
            raise err.InvalidRequestException(f"WorkGroup {name} is not found.")
        return copy.deepcopy(self.workgroups[name])

    def list_workgroups(self) -> list[dict]:
        return [
            {
                "Name": w["Name"],
                "State": w["State"],
                "Description": w["Description"],
                "CreationTime": w["CreationTime"],
                "EngineVersion": dict(ENGINE_VERSION),
            }
            for w in self.workgroups.values()
        ]

    # ------------------------------------------------------------------------- queries
    def start(self, request: dict) -> str:
        sql = request["QueryString"]
        group = self.get_workgroup(request.get("WorkGroup") or "primary")
        token = request.get("ClientRequestToken")
        with self.lock:
            if token and token in self.tokens:
                return self.tokens[token]
        configured = group["Configuration"].get("ResultConfiguration", {})
        given = request.get("ResultConfiguration", {})
        enforce = group["Configuration"]["EnforceWorkGroupConfiguration"]
        location = (configured if enforce else {**configured, **given}).get("OutputLocation")
        if not location:
            raise err.InvalidRequestException(NO_OUTPUT)
        statement = None
        try:
            statement = ddl.parse(sql)
            if statement is None:
                duckdb.extract_statements(sql)
        except duckdb.ParserException as exc:
            raise err.InvalidRequestException(
                f"line 1:1: {str(exc).splitlines()[0]}", "MALFORMED_QUERY"
            ) from exc
        except ddl.DdlError:
            pass  # fails as the query runs, as Athena's DDL does
        kind = (
            "DML"
            if statement is None
            else (
                "UTILITY"
                if isinstance(statement, (ddl.ShowTables, ddl.ShowDatabases, ddl.Describe))
                else "DDL"
            )
        )
        query_id = str(uuid.uuid4())
        suffix = ".csv" if kind == "DML" else ".txt"
        context = dict(request.get("QueryExecutionContext") or {})
        execution = {
            "QueryExecutionId": query_id,
            "Query": sql,
            "StatementType": kind,
            "ResultConfiguration": {
                "OutputLocation": location.rstrip("/") + "/" + query_id + suffix
            },
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": context,
            "Status": {"State": "QUEUED", "SubmissionDateTime": time.time()},
            "Statistics": {"QueryQueueTimeInMillis": 0},
            "WorkGroup": group["Name"],
            "EngineVersion": dict(ENGINE_VERSION),
        }
        with self.lock:
            self.executions[query_id] = execution
            if token:
                self.tokens[token] = query_id
            self._save()
        self.pool.submit(self._run, query_id)
        return query_id

    def _run(self, query_id: str) -> None:
        with self.lock:
            execution = self.executions[query_id]
            if execution["Status"]["State"] != "QUEUED":
                return  # cancelled while queued
            execution["Status"]["State"] = "RUNNING"
            queued = time.time() - execution["Status"]["SubmissionDateTime"]
            execution["Statistics"]["QueryQueueTimeInMillis"] = int(queued * 1000)
            self._save()
            sql, database = (
                execution["Query"],
                execution["QueryExecutionContext"].get("Database", "default"),
            )
            location = execution["ResultConfiguration"]["OutputLocation"]
        started = time.monotonic()
        runner = engine.Engine(self.glue, self.s3, self.state_dir / "cache")
        try:
            outcome = runner.run(query_id, sql, database.lower())
            self._write(query_id, location, outcome)
        except err.QueryFailed as exc:
            self._end_locked(query_id, "FAILED", exc.reason, exc.error_type, exc.category, started)
            return
        except ddl.DdlError as exc:
            self._end_locked(query_id, "FAILED", f"FAILED: ParseException {exc}", 1006, 2, started)
            return
        except Exception as exc:  # noqa: BLE001 - a query's failure is its state, not a crash
            self._end_locked(
                query_id, "FAILED", f"INTERNAL_ERROR_QUERY_ENGINE: {exc}", 401, 1, started
            )
            return
        with self.lock:
            execution = self.executions[query_id]
            if execution["Status"]["State"] == "CANCELLED":
                return
            execution["Statistics"]["DataScannedInBytes"] = outcome.scanned_bytes
            self._end(execution, "SUCCEEDED", None, 0, 0, started)
            self._save()

    def _write(self, query_id: str, location: str, outcome: engine.Outcome) -> None:
        """The result where Athena writes it, and kept for GetQueryResults."""
        bucket, _, key = location.removeprefix("s3://").partition("/")
        out = io.StringIO()
        if outcome.statement_type == "DML":
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow([c.name for c in outcome.columns])
            for row in outcome.rows:  # NULL: an empty field, not quoted
                out.write(
                    ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row)
                    + "\n"
                )
        else:
            out.write("".join(f"{row[0]}\n" for row in outcome.rows))
        self.s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
        if outcome.columns:
            self.s3.put_object(
                Bucket=bucket, Key=key + ".metadata", Body=metadata(query_id, outcome.columns)
            )
        kept = {
            "type": outcome.statement_type,
            "columns": [vars(c) for c in outcome.columns],
            "rows": outcome.rows,
        }
        (self.state_dir / "results" / f"{query_id}.json").write_text(json.dumps(kept))

    def _end_locked(self, query_id, state, reason, error_type, category, started) -> None:
        with self.lock:
            execution = self.executions[query_id]
            if execution["Status"]["State"] != "CANCELLED":
                self._end(execution, state, reason, error_type, category, started)
                self._save()

    @staticmethod
    def _end(execution, state, reason, error_type, category, started=None) -> None:
        status = execution["Status"]
        status["State"] = state
        status["CompletionDateTime"] = time.time()
        if reason:
            status["StateChangeReason"] = reason
        if state == "FAILED":
            status["AthenaError"] = {
                "ErrorCategory": category,
                "ErrorType": error_type,
                "Retryable": category == 1,
                "ErrorMessage": reason,
            }
        stats = execution["Statistics"]
        total = status["CompletionDateTime"] - status["SubmissionDateTime"]
        engine_ms = int((time.monotonic() - started) * 1000) if started else 0
        stats.update(
            EngineExecutionTimeInMillis=engine_ms,
            TotalExecutionTimeInMillis=int(total * 1000),
            QueryPlanningTimeInMillis=0,
            ServicePreProcessingTimeInMillis=0,
            ServiceProcessingTimeInMillis=max(int(total * 1000) - engine_ms, 0),
            ResultReuseInformation={"ReusedPreviousResult": False},
        )
        stats.setdefault("DataScannedInBytes", 0)

    def stop(self, query_id: str) -> None:
        with self.lock:
            execution = self._execution(query_id)
            if execution["Status"]["State"] in DONE:
                return  # a finished query: nothing to do, as Athena answers
            self._end(execution, "CANCELLED", "Query cancelled by user", 0, 0)
            self._save()
        engine.interrupt(query_id)

    def _execution(self, query_id: str) -> dict:
        if query_id not in self.executions:
            raise err.InvalidRequestException(
                f"QueryExecution {query_id} was not found", "INVALID_INPUT"
            )
        return self.executions[query_id]

    def get(self, query_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._execution(query_id))

    def results(self, query_id: str, max_results: int, token: str | None) -> dict:
        execution = self.get(query_id)
        state = execution["Status"]["State"]
        if state in ("QUEUED", "RUNNING"):
            raise err.InvalidRequestException(
                f"Query has not yet finished. Current state: {state}",
                "INVALID_QUERY_EXECUTION_STATE",
            )
        if state != "SUCCEEDED":
            raise err.InvalidRequestException(
                f"Query did not finish successfully. Final query state: {state}",
                "INVALID_QUERY_EXECUTION_STATE",
            )
        if not 1 <= max_results <= MAX_RESULTS:
            raise err.InvalidRequestException(f"MaxResults must be 1..{MAX_RESULTS}")
        kept = json.loads((self.state_dir / "results" / f"{query_id}.json").read_text())
        columns = [engine.Column(**c) for c in kept["columns"]]
        rows = kept["rows"]
        if kept["type"] == "DML":  # the column names come first, as Athena returns them
            rows = [[c.name for c in columns], *rows]
        start = int(token or 0)
        chosen = rows[start : start + max_results]
        reply = {
            "ResultSet": {
                "Rows": [
                    {"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                    for row in chosen
                ],
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {
                            "CatalogName": "hive",
                            "SchemaName": "",
                            "TableName": "",
                            "Name": c.name,
                            "Label": c.name,
                            "Type": c.type,
                            "Precision": c.precision,
                            "Scale": c.scale,
                            "Nullable": "UNKNOWN",
                            "CaseSensitive": c.type == "varchar",
                        }
                        for c in columns
                    ]
                },
            },
            "UpdateCount": 0,
        }
        if start + max_results < len(rows):
            reply["NextToken"] = str(start + max_results)
        return reply

    def list(self, request: dict) -> dict:
        group = self.get_workgroup(request.get("WorkGroup") or "primary")["Name"]
        size = int(request.get("MaxResults") or MAX_LIST)
        if not 0 <= size <= MAX_LIST:
            raise err.InvalidRequestException(f"MaxResults must be 0..{MAX_LIST}")
        with self.lock:
            ids = [
                e["QueryExecutionId"]
                for e in sorted(
                    self.executions.values(), key=lambda e: -e["Status"]["SubmissionDateTime"]
                )
                if e["WorkGroup"] == group
            ]
        start = int(request.get("NextToken") or 0)
        reply = {"QueryExecutionIds": ids[start : start + size]}
        if start + size < len(ids):
            reply["NextToken"] = str(start + size)
        return reply
