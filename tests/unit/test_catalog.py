"""The Data Catalog definitions: partitions found from object keys as Spark writes them, table
columns equal to what the ETL job writes, partition registration that tolerates a rerun."""

from __future__ import annotations

import pytest

from music_streaming import aws, catalog, kpis, layout


def test_partition_values_come_from_spark_style_keys():
    key = "processed_data/date=2030-01-01/batch_id=b-1/genre=r%26b/part-0.snappy.parquet"
    assert catalog.partition_values("streams", key) == ["2030-01-01", "b-1", "r&b"]
    assert catalog.partition_prefix("streams", key) == (
        "processed_data/date=2030-01-01/batch_id=b-1/genre=r%26b/"
    )
    assert catalog.partition_values("songs", "reference/songs/batch_id=b-1/part-0.parquet") == [
        "b-1"
    ]


@pytest.mark.parametrize(
    "key",
    [
        "processed_data/date=2030-01-01/batch_id=b-1/_SUCCESS",  # the batch's marker, no genre
        "processed_data/date=2030-01-01/genre=rock/batch_id=b/x.parquet",  # levels out of order
        "processed_data/date=/batch_id=b/genre=rock/x.parquet",  # an empty value
        "reference/users/batch_id=b/x.parquet",  # another table's
    ],
)
def test_keys_outside_one_partition_have_none(key):
    assert catalog.partition_values("streams" if "processed" in key else "songs", key) is None


def test_partition_prefixes_are_each_partition_once():
    keys = [
        "processed_data/date=2030-01-01/batch_id=b/_SUCCESS",
        "processed_data/date=2030-01-01/batch_id=b/genre=rock/part-0.parquet",
        "processed_data/date=2030-01-01/batch_id=b/genre=rock/part-1.parquet",
        "processed_data/date=2030-01-01/batch_id=b/genre=pop/part-0.parquet",
    ]
    assert catalog.partition_prefixes("streams", keys) == [
        "processed_data/date=2030-01-01/batch_id=b/genre=pop/",
        "processed_data/date=2030-01-01/batch_id=b/genre=rock/",
    ]
    partition = catalog.partition_input(
        "streams", "bucket", "processed_data/date=d/batch_id=b/genre=pop/"
    )
    assert partition["Values"] == ["d", "b", "pop"]
    assert partition["StorageDescriptor"]["Location"] == (
        "s3://bucket/processed_data/date=d/batch_id=b/genre=pop/"
    )
    with pytest.raises(ValueError, match="not a partition"):
        catalog.partition_input("streams", "bucket", "processed_data/date=d/")


def strings(spark, *columns: str):
    return spark.createDataFrame([], ", ".join(f"{c} string" for c in columns))


def test_table_columns_are_the_columns_the_etl_job_writes(spark):
    """Athena reads Parquet by column name: a column renamed in the job must be renamed here."""
    empty = {
        name: spark.createDataFrame([], ref.empty_schema) for name, ref in kpis.REFERENCE.items()
    }
    raw = strings(spark, *kpis.SOURCE_COLUMNS, "user_id", "track_id", "listen_time")
    valid, _ = kpis.split_streams(kpis.typed_streams(raw, keep=kpis.SOURCE_COLUMNS))
    written = {
        "streams": kpis.enrich_streams(valid, empty["songs"], empty["users"]),
        "songs": kpis.song_rows(
            strings(
                spark,
                *kpis.SOURCE_COLUMNS,
                "track_id",
                "track_genre",
                "track_name",
                "artists",
                "duration_ms",
            ),
            keep=kpis.SOURCE_COLUMNS,
        ),
        "users": kpis.user_rows(
            strings(
                spark, *kpis.SOURCE_COLUMNS, "user_id", "user_name", "user_age", "user_country"
            ),
            keep=kpis.SOURCE_COLUMNS,
        ),
    }
    for table, frame in written.items():
        spec = catalog.TABLES[table]
        columns = {
            f.name: f.dataType.simpleString().replace("long", "bigint")
            for f in frame.schema.fields
            if f.name not in spec.partition_keys
        }
        assert columns == dict(spec.columns), table
    assert catalog.TABLES["streams"].prefix == layout.PROCESSED_DATA_PREFIX


class FakeGlue:
    def __init__(self, errors):
        self.errors, self.calls = errors, []

    def batch_create_partition(self, **request):
        self.calls.append(request)
        return {"Errors": self.errors.pop(0) if self.errors else []}


def error(code):
    return {"PartitionValues": ["x"], "ErrorDetail": {"ErrorCode": code, "ErrorMessage": "m"}}


def test_add_partitions_keeps_existing_ones_and_raises_on_other_errors():
    inputs = [{"Values": [str(i)]} for i in range(150)]
    glue = FakeGlue([[error("AlreadyExistsException")] * 3])
    assert aws.add_partitions(glue, "db", "t", inputs) == 147
    assert [len(c["PartitionInputList"]) for c in glue.calls] == [100, 50]
    with pytest.raises(RuntimeError, match="db.t: partition.*AccessDeniedException"):
        aws.add_partitions(FakeGlue([[error("AccessDeniedException")]]), "db", "t", inputs[:1])
