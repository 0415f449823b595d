"""``Relationalize``: nested records as flat tables. Struct fields become columns named by their
path (``name.first``); each array becomes its own table ``{parent}_{path}`` with the columns
``id`` (the value the parent row holds in the array's place), ``index`` (the element's position)
and ``{path}.val`` (the element, itself flattened: ``links.val.url``)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import fields, gluetypes

_ROW = "__glue_row"


def flatten(df: DataFrame) -> DataFrame:
    columns = []

    def walk(struct: T.StructType, prefix: list[str]) -> None:
        for field in struct.fields:
            path = [*prefix, field.name]
            if isinstance(field.dataType, T.StructType) and not gluetypes.is_choice(field):
                walk(field.dataType, path)
            else:
                columns.append(fields.column(path).alias(".".join(path), metadata=field.metadata))

    walk(df.schema, [])
    return df.select(*columns)


def relationalize(df: DataFrame, root: str) -> dict[str, DataFrame]:
    tables: dict[str, DataFrame] = {}
    _table(flatten(df), root, tables)
    return tables


def _table(df: DataFrame, name: str, tables: dict[str, DataFrame]) -> None:
    arrays = [f.name for f in df.schema.fields if isinstance(f.dataType, T.ArrayType)]
    if not arrays:
        tables[name] = df
        return
    # Stable row numbers (checkpointed), so a parent and its children agree on the ids.
    numbered = (
        df.rdd.zipWithIndex()
        .map(lambda pair: (*pair[0], pair[1] + 1))
        .toDF(T.StructType([*df.schema.fields, T.StructField(_ROW, T.LongType(), False)]))
        .localCheckpoint()
    )
    parent = numbered
    for column in arrays:
        ref = fields.column([column])
        parent = parent.withColumn(column, F.when(ref.isNotNull(), F.col(_ROW)).cast("long"))
    tables[name] = parent.drop(_ROW)
    for column in arrays:
        child = numbered.select(
            F.col(_ROW).alias("id"), F.posexplode(fields.column([column])).alias("index", "val")
        ).select("id", "index", F.col("val").alias(f"{column}.val"))
        _table(flatten(child), f"{name}_{column}", tables)
