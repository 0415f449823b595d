"""The DDL the local Athena API runs against the catalog, parsed as Athena's DDL reference writes
it, and the catalog types read by the engine."""

from __future__ import annotations

import pytest

from devstack.services.athena import ddl, engine
from devstack.services.athena.exceptions import QueryFailed


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
