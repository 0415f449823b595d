"""The local Athena API's parts: the DDL it runs against the catalog, parsed as Athena's DDL
reference writes it; the engine's views of catalog tables (types and partition values from the
catalog, not from the files); values and types as Athena shows them."""

from __future__ import annotations

import duckdb
import pytest

from devstack.services.athena import ddl, engine
from devstack.services.athena.exceptions import QueryFailed
from music_streaming import catalog


def test_create_external_table_with_every_clause():
    table = ddl.parse(
        "CREATE EXTERNAL TABLE IF NOT EXISTS lake.`Plays` (\n"
        "  `track` string COMMENT 'the track',\n"
        "  tags array<struct<name:string,score:decimal(5,2)>>,\n"
        "  extra map<string,int>)\n"
        "COMMENT 'plays'\n"
        "PARTITIONED BY (day string, hour int)\n"
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'\n"
        "STORED AS TEXTFILE\n"
        "LOCATION 's3://bucket//plays'\n"
        "TBLPROPERTIES ('skip.header.line.count'='1');"
    )
    assert (table.database, table.name, table.if_not_exists) == ("lake", "plays", True)
    assert table.columns == [
        ("track", "string"),
        ("tags", "array<struct<name:string,score:decimal(5,2)>>"),
        ("extra", "map<string,int>"),
    ]
    assert table.partition_keys == [("day", "string"), ("hour", "int")]
    assert table.serde_parameters["field.delim"] == "\t"
    made = ddl.table_input(table)
    assert made["StorageDescriptor"]["Location"] == "s3://bucket/plays/"
    assert made["Parameters"] == {"EXTERNAL": "TRUE", "skip.header.line.count": "1"}
    assert made["TableType"] == "EXTERNAL_TABLE" and made["Description"] == "plays"


def test_stored_as_parquet_and_serde_properties():
    table = ddl.parse("CREATE EXTERNAL TABLE t (a int) STORED AS PARQUET LOCATION 's3://b/t/'")
    assert "Parquet" in table.input_format and table.serde.endswith("ParquetHiveSerDe")
    csv = ddl.parse(
        "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE "
        "'org.apache.hadoop.hive.serde2.OpenCSVSerde' WITH SERDEPROPERTIES "
        "('separatorChar' = ';', 'quoteChar' = '\"') LOCATION 's3://b/t/'"
    )
    assert csv.serde_parameters == {"separatorChar": ";", "quoteChar": '"'}


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("CREATE DATABASE IF NOT EXISTS d COMMENT 'x'", ddl.CreateDatabase("d", True, "x")),
        ("drop schema if exists d cascade", ddl.DropDatabase("d", True, True)),
        ("DROP TABLE IF EXISTS d.t", ddl.DropTable("d", "t", True)),
        ("MSCK REPAIR TABLE t", ddl.RepairTable(None, "t")),
        (
            "ALTER TABLE t ADD IF NOT EXISTS PARTITION (day='1') LOCATION 's3://b/x/' "
            "PARTITION (day='2')",
            ddl.AddPartitions(None, "t", True, [({"day": "1"}, "s3://b/x/"), ({"day": "2"}, "")]),
        ),
        (
            "ALTER TABLE t DROP PARTITION (day='1')",
            ddl.DropPartitions(None, "t", False, [{"day": "1"}]),
        ),
        ("SHOW TABLES IN d 'p*'", ddl.ShowTables("d", "p*")),
        ("SHOW DATABASES", ddl.ShowDatabases()),
        ("DESCRIBE d.t", ddl.Describe("d", "t")),
        ("SELECT 1", None),
        ("WITH x AS (SELECT 1) SELECT * FROM x", None),
    ],
)
def test_each_statement(sql, expected):
    assert ddl.parse(sql) == expected


@pytest.mark.parametrize(
    "sql, message",
    [
        ("CREATE TABLE t (a int) LOCATION 's3://b/'", "Only EXTERNAL tables"),
        ("CREATE EXTERNAL TABLE t (a int)", "needs a LOCATION"),
        ("CREATE EXTERNAL TABLE t (a int) STORED AS AVRO LOCATION 's3://b/'", "AVRO"),
        ("ALTER TABLE t RENAME TO u", "ADD PARTITION and DROP PARTITION"),
        ("DROP TABLE t extra", "unexpected 'extra'"),
    ],
)
def test_what_is_refused_says_why(sql, message):
    with pytest.raises(ddl.DdlError, match=message):
        ddl.parse(sql)


def test_catalog_types_as_duckdb_reads_them():
    assert engine.duckdb_type("array<struct<a:int,b:map<string,double>>>") == (
        'STRUCT("a" INTEGER, "b" MAP(VARCHAR, DOUBLE))[]'
    )
    assert engine.duckdb_type("decimal(10, 2)") == "DECIMAL(10, 2)"
    assert engine.duckdb_type("varchar(20)") == "VARCHAR"
    with pytest.raises(QueryFailed, match="Unknown type: uniontype"):
        engine.duckdb_type("uniontype<int,string>")


def test_values_as_athena_shows_them():
    import datetime as dt

    assert engine.text(True) == "true"
    assert engine.text(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05.000"
    assert engine.text([1, None]) == "[1, null]"
    assert engine.text({"a": 1, "b": "x"}) == "{a=1, b=x}"
    assert engine.text({"key": ["k"], "value": [2]}) == "{k=2}"


def test_a_view_has_the_catalogs_columns_and_partition_values(tmp_path):
    con = duckdb.connect()
    files = {}
    for i, genre in enumerate(["rock", "r&b"]):
        path = tmp_path / f"{i}.parquet"
        con.execute(
            f"COPY (SELECT 'u{i}' AS user_id, 't' AS track_id, 'streams/a.csv' AS source_key, "
            f"'v1' AS source_version, '001' AS upload_order, TIMESTAMP '2030-01-01 10:00:00' "
            f"AS listen_time, DATE '2030-01-01' AS listen_date, 'n' AS track_name, 'a' AS "
            f"artists, {1000 + i} AS duration_ms, true AS known_track, true AS known_user, "
            f"'ignored' AS column_not_in_the_catalog) TO '{path}' (FORMAT parquet)"
        )
        files[str(path)] = (["2030-01-01", "b-1", genre], 1)
    table = catalog.table_input("streams", "processed")
    con.execute(engine.view_sql("streams", table, files))
    rows = con.execute(
        "SELECT genre, duration_ms, date, batch_id FROM streams ORDER BY genre"
    ).fetchall()
    assert rows == [("r&b", 1001, "2030-01-01", "b-1"), ("rock", 1000, "2030-01-01", "b-1")]
    described = {r[0]: r[1] for r in con.execute("DESCRIBE streams").fetchall()}
    assert list(described) == [c for c, _ in catalog.TABLES["streams"].columns] + [
        "date",
        "batch_id",
        "genre",
    ]
    assert described["duration_ms"] == "BIGINT" and described["listen_date"] == "DATE"


def test_a_table_without_partitions_is_an_empty_view_with_its_columns():
    con = duckdb.connect()
    con.execute(engine.view_sql("songs", catalog.table_input("songs", "processed"), {}))
    assert con.execute("SELECT count(*), count(genre) FROM songs").fetchall() == [(0, 0)]
    assert "batch_id" in {r[0] for r in con.execute("DESCRIBE songs").fetchall()}


def test_an_unknown_catalog_type_is_named():
    table = catalog.table_input("users", "processed")
    table["StorageDescriptor"]["Columns"][0]["Type"] = "uniontype<int,string>"
    with pytest.raises(QueryFailed, match="Unknown type: uniontype<int,string>"):
        engine.view_sql("users", table, {})
