"""The local Glue API's Data Catalog: the databases, tables and partitions the pipeline's bootstrap,
ETL job and ``scripts/query`` use (Create/Get/Delete of each, UpdateTable, GetTables,
BatchCreatePartition, GetPartitions, BatchDeletePartition), with Glue's reply and error shapes,
kept in ``catalog.json`` of the state directory."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from pathlib import Path

from devstack.services.glue import exceptions as err
from devstack.services.glue.models import page
from devstack.services.glue.partition_expression import ExpressionError, compile_expression

MAX_BATCH_PARTITIONS = 100  # Glue's limit of BatchCreatePartition
MAX_BATCH_DELETE_PARTITIONS = 25  # and of BatchDeletePartition


def _not_found(what: str) -> err.EntityNotFoundException:
    return err.EntityNotFoundException(f"{what} not found")


class Catalog:
    def __init__(self, state_dir: Path):
        self.lock = threading.RLock()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = state_dir / "catalog.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        # database name -> {"database": {...}, "tables": {name: {"table": {...},
        # "partitions": {"\x1f".join(values): {...}}}}}
        self.databases: dict[str, dict] = state.get("databases", {})

    def _save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"databases": self.databases}))
            tmp.replace(self.state_file)

    def _database(self, name: str) -> dict:
        if name not in self.databases:
            raise _not_found(f"Database {name}")
        return self.databases[name]

    def _table(self, database: str, name: str) -> dict:
        tables = self._database(database)["tables"]
        if name not in tables:
            raise _not_found(f"Table {name} in database {database}")
        return tables[name]

    @staticmethod
    def _partition_key(table: dict, values: list[str]) -> str:
        expected = len(table["table"].get("PartitionKeys", []))
        if len(values) != expected:
            raise err.InvalidInputException(
                f"{len(values)} partition values given, table {table['table']['Name']} has "
                f"{expected} partition keys",
            )
        return "\x1f".join(values)

    # ------------------------------------------------------------------------ databases
    def CreateDatabase(self, req: dict) -> dict:
        database = dict(req["DatabaseInput"])
        with self.lock:
            if database["Name"] in self.databases:
                raise err.AlreadyExistsException(f"Database {database['Name']} already exists")
            database["CreateTime"] = time.time()
            self.databases[database["Name"]] = {"database": database, "tables": {}}
            self._save()
        return {}

    def GetDatabase(self, req: dict) -> dict:
        with self.lock:
            return {"Database": copy.deepcopy(self._database(req["Name"])["database"])}

    def GetDatabases(self, req: dict) -> dict:
        with self.lock:
            found = [copy.deepcopy(self.databases[n]["database"]) for n in sorted(self.databases)]
        return page(found, req, "DatabaseList")

    def DeleteDatabase(self, req: dict) -> dict:
        with self.lock:
            self._database(req["Name"])
            del self.databases[req["Name"]]
            self._save()
        return {}

    # --------------------------------------------------------------------------- tables
    def _stored_table(self, database: str, table_input: dict, created: float) -> dict:
        return {
            **table_input,
            "DatabaseName": database,
            "CreateTime": created,
            "UpdateTime": time.time(),
        }

    def CreateTable(self, req: dict) -> dict:
        with self.lock:
            tables = self._database(req["DatabaseName"])["tables"]
            name = req["TableInput"]["Name"]
            if name in tables:
                raise err.AlreadyExistsException(f"Table {name} already exists")
            table = self._stored_table(req["DatabaseName"], req["TableInput"], time.time())
            tables[name] = {"table": table, "partitions": {}}
            self._save()
        return {}

    def UpdateTable(self, req: dict) -> dict:
        """Replaces the definition, keeping the partitions (as Glue does)."""
        with self.lock:
            entry = self._table(req["DatabaseName"], req["TableInput"]["Name"])
            entry["table"] = self._stored_table(
                req["DatabaseName"], req["TableInput"], entry["table"]["CreateTime"]
            )
            self._save()
        return {}

    def GetTable(self, req: dict) -> dict:
        with self.lock:
            return {"Table": copy.deepcopy(self._table(req["DatabaseName"], req["Name"])["table"])}

    def GetTables(self, req: dict) -> dict:
        """``Expression`` is a regular expression the table's whole name matches."""
        try:
            pattern = re.compile(req.get("Expression") or ".*")
        except re.error as exc:
            raise err.InvalidInputException(
                f"Expression is not a regular expression: {exc}"
            ) from exc
        with self.lock:
            tables = self._database(req["DatabaseName"])["tables"]
            found = [
                copy.deepcopy(tables[n]["table"]) for n in sorted(tables) if pattern.fullmatch(n)
            ]
        return page(found, req, "TableList")

    def DeleteTable(self, req: dict) -> dict:
        with self.lock:
            self._table(req["DatabaseName"], req["Name"])
            del self.databases[req["DatabaseName"]]["tables"][req["Name"]]
            self._save()
        return {}

    # ----------------------------------------------------------------------- partitions
    def _create_partitions(self, req: dict, inputs: list[dict]) -> list[dict]:
        """Stores each new partition; the errors of the others (Glue's BatchCreatePartition)."""
        errors = []
        with self.lock:
            table = self._table(req["DatabaseName"], req["TableName"])
            for partition in inputs:
                key = self._partition_key(table, partition["Values"])
                if key in table["partitions"]:
                    errors.append(
                        {
                            "PartitionValues": partition["Values"],
                            "ErrorDetail": {
                                "ErrorCode": "AlreadyExistsException",
                                "ErrorMessage": "Partition already exists.",
                            },
                        }
                    )
                    continue
                table["partitions"][key] = {
                    **partition,
                    "DatabaseName": req["DatabaseName"],
                    "TableName": req["TableName"],
                    "CreationTime": time.time(),
                }
            self._save()
        return errors

    def CreatePartition(self, req: dict) -> dict:
        errors = self._create_partitions(req, [req["PartitionInput"]])
        if errors:
            raise err.AlreadyExistsException("Partition already exists.")
        return {}

    def BatchCreatePartition(self, req: dict) -> dict:
        inputs = req.get("PartitionInputList", [])
        if len(inputs) > MAX_BATCH_PARTITIONS:
            raise err.InvalidInputException(
                f"at most {MAX_BATCH_PARTITIONS} partitions per call, {len(inputs)} given",
            )
        return {"Errors": self._create_partitions(req, inputs)}

    def GetPartition(self, req: dict) -> dict:
        with self.lock:
            table = self._table(req["DatabaseName"], req["TableName"])
            partition = table["partitions"].get(self._partition_key(table, req["PartitionValues"]))
            if partition is None:
                raise _not_found(f"Partition {req['PartitionValues']}")
            return {"Partition": copy.deepcopy(partition)}

    def GetPartitions(self, req: dict) -> dict:
        """Filtered by ``Expression`` (Glue's grammar, ``partition_expression``), one of
        ``Segment.TotalSegments`` contiguous slices of the sorted partitions, paged."""
        with self.lock:
            table = self._table(req["DatabaseName"], req["TableName"])
            try:
                test = compile_expression(
                    req.get("Expression"), table["table"].get("PartitionKeys", [])
                )
            except ExpressionError as exc:
                raise err.InvalidInputException(str(exc)) from exc
            partitions = [
                copy.deepcopy(table["partitions"][k])
                for k in sorted(table["partitions"])
                if test(table["partitions"][k]["Values"])
            ]
        segment = req.get("Segment")
        if segment:
            number, total = segment["SegmentNumber"], segment["TotalSegments"]
            if not 1 <= total <= 10 or not 0 <= number < total:
                raise err.InvalidInputException(
                    f"Segment {number} of {total}: TotalSegments is 1..10, SegmentNumber "
                    "0..TotalSegments-1"
                )
            size = -(-len(partitions) // total)  # ceiling: the last slices may be short
            partitions = partitions[number * size : (number + 1) * size]
        if req.get("ExcludeColumnSchema"):
            for partition in partitions:
                partition.get("StorageDescriptor", {}).pop("Columns", None)
        return page(partitions, req, "Partitions", default_size=1000)

    def BatchDeletePartition(self, req: dict) -> dict:
        errors = []
        with self.lock:
            table = self._table(req["DatabaseName"], req["TableName"])
            for partition in req.get("PartitionsToDelete", []):
                key = self._partition_key(table, partition["Values"])
                if table["partitions"].pop(key, None) is None:
                    errors.append(
                        {
                            "PartitionValues": partition["Values"],
                            "ErrorDetail": {
                                "ErrorCode": "EntityNotFoundException",
                                "ErrorMessage": "Partition not found.",
                            },
                        }
                    )
            self._save()
        return {"Errors": errors}
