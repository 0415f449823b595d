"""``DynamicFrame`` and ``DynamicFrameCollection`` on a plain Spark DataFrame.

The frame's DataFrame holds the records; a field typed differently across records is a *choice*
(see ``gluetypes``). Every method returns a new frame; none changes its input. The readers and
writers (``DynamicFrameReader``, ``DynamicFrameWriter``) are here under Glue's names, so tests
that patch them find them; the I/O they do is the GlueContext's.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import fields, gluetypes, records

log = logging.getLogger("awsglue")
# Glue methods AWS documents that this implementation does not have: calling one says so
NOT_IMPLEMENTED = {
    "DynamicFrame": {"unnest_ddb_json", "simplify_ddb_json"},
    "GlueContext": {
        "getSource",
        "forEachBatch",
        "add_ingestion_time_columns",
        "begin_transaction",
        "commit_transaction",
        "cancel_transaction",
        "getSampleDynamicFrameFromCatalog",
        "create_sample_dynamic_frame_from_catalog",
        "create_sample_dynamic_frame_from_options",
    },
}


def not_implemented(owner: str, name: str) -> str:
    return f"{owner}.{name} is not implemented locally (see the README's awsglue table)"


_ERROR = "__glue_error"
_COMPARISONS = {
    "=": lambda c, v: c == v,
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


class DynamicFrame:
    """A distributed collection of records whose fields may hold more than one type."""

    def __init__(self, df: DataFrame, glue_ctx, name: str = "", errors: DataFrame | None = None):
        self._df = df
        self.glue_ctx = glue_ctx
        self.name = name
        self._errors = errors  # one row per record a transform could not handle (its reason)

    # ----------------------------------------------------------------------- conversions
    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx, name: str) -> DynamicFrame:
        return cls(dataframe, glue_ctx, name)

    def toDF(self, options=None) -> DataFrame:
        """The records as a DataFrame; an unresolved choice arrives as a struct with one field
        per type (``struct<long:bigint,string:string>``), as Glue hands it over."""
        if options:
            raise NotImplementedError(
                "DynamicFrame.toDF(options) is not implemented locally (see the README's awsglue table)"
            )
        return self._df

    def _new(self, df: DataFrame, name: str | None = None, errors=None) -> DynamicFrame:
        merged = self._errors
        if errors is not None:
            merged = errors if merged is None else merged.unionByName(errors)
        return DynamicFrame(df, self.glue_ctx, self.name if name is None else name, merged)

    # ---------------------------------------------------------------------- inspection
    def count(self) -> int:
        return self._df.count()

    def schema(self) -> T.StructType:
        return self._df.schema

    def printSchema(self) -> None:
        print("\n".join(gluetypes.schema_lines(self._df.schema)))

    def show(self, num_rows: int = 20) -> None:
        """The first records, one JSON object a line (choices as their value)."""
        schema = self._df.schema
        for row in self._df.limit(num_rows).collect():
            print(json.dumps(records.from_row(tuple(row), schema), default=str))

    def keys(self) -> list[str]:
        return self._df.columns

    def getNumPartitions(self) -> int:
        return self._df.rdd.getNumPartitions()

    def errorsCount(self) -> int:
        return 0 if self._errors is None else self._errors.count()

    def stageErrorsCount(self) -> int:
        return self.errorsCount()

    def errorsAsDynamicFrame(self) -> DynamicFrame:
        errors = self._errors
        if errors is None:
            errors = self._df.sparkSession.createDataFrame([], "error string")
        return DynamicFrame(errors, self.glue_ctx, f"{self.name}_errors")

    def assertErrorThreshold(self) -> None:
        count = self.errorsCount()
        if count:
            raise RuntimeError(f"DynamicFrame {self.name!r} has {count} error records")

    def repartition(self, num_partitions: int, transformation_ctx="", **_) -> DynamicFrame:
        return self._new(self._df.repartition(num_partitions))

    def coalesce(self, num_partitions: int, shuffle=False, transformation_ctx="", **_):
        df = self._df.repartition(num_partitions) if shuffle else self._df.coalesce(num_partitions)
        return self._new(df)

    # ------------------------------------------------------------------------ fields
    def select_fields(self, paths: list[str], transformation_ctx="", **_) -> DynamicFrame:
        tree: dict = {}
        for path in paths:
            names = fields.field_at(self._df.schema, fields.parts(path)) and fields.require(
                self._df.schema, path
            )
            if names:  # as Glue: a path the frame lacks selects nothing
                fields.place(tree, names, fields.column(names))
        return self._new(self._df.select(*fields.build(tree)))

    def drop_fields(self, paths: list[str], transformation_ctx="", **_) -> DynamicFrame:
        df = self._df
        for path in paths:
            if fields.field_at(df.schema, fields.parts(path)) is not None:
                df = fields.without(df, fields.require(df.schema, path))
        return self._new(df)

    def rename_field(self, oldName: str, newName: str, transformation_ctx="", **_):
        old = fields.require(self._df.schema, oldName)
        new = fields.parts(newName)
        field = fields.field_at(self._df.schema, old)
        if len(old) == 1 and len(new) == 1:
            return self._new(self._df.withColumnRenamed(old[0], new[0]))
        df = fields.with_value(self._df, new, fields.column(old), dict(field.metadata))
        return self._new(fields.without(df, old))

    def apply_mapping(self, mappings, case_sensitive=False, transformation_ctx="", **_):
        """Each mapping ``(source, source type, target, target type)``: the source's value cast to
        the target type under the target's name (dots in a target build structs). Fields no
        mapping names are dropped."""
        tree: dict = {}
        schema = self._df.schema
        for mapping in mappings:
            if len(mapping) != 4:
                raise ValueError(
                    f"apply_mapping: {mapping!r} is not (source, source type, target, target type)"
                )
            source, _source_type, target, target_type = mapping
            names = fields.parts(source)
            field = fields.field_at(schema, names)
            if field is None:
                continue  # as Glue: a mapping whose source the frame lacks yields no field
            value = _cast(fields.column(fields.require(schema, source)), field, target_type)
            fields.place(tree, fields.parts(target), value)
        return self._new(self._df.select(*fields.build(tree)))

    def resolveChoice(
        self,
        specs: list[tuple[str, str]] | None = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx="",
        info="",
        stageThreshold=0,
        totalThreshold=0,
        catalog_id=None,
    ) -> DynamicFrame:
        """``specs`` [(path, action)] or one ``choice`` action for every choice field. Actions:
        ``cast:type``, ``project:type``, ``make_cols``, ``make_struct``, ``match_catalog``."""
        if specs and choice:
            raise ValueError("resolveChoice takes specs or choice, not both")
        if not specs and not choice:
            raise ValueError("resolveChoice needs specs or choice")
        if specs is None:
            specs = [
                (fields.quote(path), choice)
                for path, field in fields.walk(self._df.schema)
                if gluetypes.is_choice(field)
            ]
        catalog_types: dict[str, str] = {}
        if any(action == "match_catalog" for _, action in specs):
            if not (database and table_name):
                raise ValueError("resolveChoice match_catalog needs database and table_name")
            catalog_types = self.glue_ctx._catalog_column_types(database, table_name, catalog_id)
        df = self._df
        for path, action in specs:
            names = fields.require(df.schema, path)
            field = fields.field_at(df.schema, names)
            if action == "match_catalog":
                if names[0].lower() not in catalog_types:
                    raise ValueError(
                        f"match_catalog: {database}.{table_name} has no column {path!r}"
                    )
                action = f"cast:{catalog_types[names[0].lower()]}"
            df = _resolve(df, names, field, action)
        return self._new(df)

    def unbox(self, path: str, format: str, transformation_ctx="", **options) -> DynamicFrame:
        """A string field holding JSON becomes the struct it encodes."""
        if format != "json":
            raise NotImplementedError(
                f"DynamicFrame.unbox(format={format!r}) is not implemented locally; json is "
                "(see the README's awsglue table)"
            )
        names = fields.require(self._df.schema, path)
        spark = self._df.sparkSession
        texts = self._df.select(fields.column(names)).rdd.map(lambda r: r[0]).filter(bool)
        schema = spark.read.json(texts).schema if not texts.isEmpty() else T.StructType([])
        return self._new(
            fields.with_value(self._df, names, F.from_json(fields.column(names), schema))
        )

    def unnest(self, transformation_ctx="", **_) -> DynamicFrame:
        """Nested struct fields become top-level fields named by their path (``a.b``)."""
        columns = []

        def flatten(struct: T.StructType, prefix: list[str]) -> None:
            for field in struct.fields:
                path = [*prefix, field.name]
                if isinstance(field.dataType, T.StructType) and not gluetypes.is_choice(field):
                    flatten(field.dataType, path)
                else:
                    columns.append(
                        fields.column(path).alias(".".join(path), metadata=field.metadata)
                    )

        flatten(self._df.schema, [])
        return self._new(self._df.select(*columns))

    # ------------------------------------------------------------------------ records
    def filter(self, f: Callable[[records.DynamicRecord], bool], transformation_ctx="", **_):
        schema = self._df.schema

        def keep(row):
            try:
                return (bool(f(records.from_row(tuple(row), schema))), None)
            except Exception as exc:  # noqa: BLE001 - a failing record is an error record, as in Glue
                return (False, f"{type(exc).__name__}: {exc}")

        checked = self._df.rdd.map(lambda row: (row, *keep(row))).cache()
        kept = self._df.sparkSession.createDataFrame(
            checked.filter(lambda t: t[1]).map(lambda t: t[0]), schema
        )
        return self._new(kept, errors=_errors(self._df, checked.map(lambda t: t[2])))

    def map(self, f: Callable[[records.DynamicRecord], dict], transformation_ctx="", **_):
        """``f`` on every record; the result is typed record by record. A record ``f`` raises on
        becomes an error record (``errorsCount``)."""
        schema = self._df.schema

        def apply(row):
            try:
                return (f(records.from_row(tuple(row), schema)), None)
            except Exception as exc:  # noqa: BLE001 - a failing record is an error record, as in Glue
                return (None, f"{type(exc).__name__}: {exc}")

        mapped = self._df.rdd.map(apply).cache()
        df = records.to_frame(
            self._df.sparkSession,
            mapped.filter(lambda t: t[1] is None).map(lambda t: t[0]),
            schema,
        )
        return self._new(df, errors=_errors(self._df, mapped.map(lambda t: t[1])))

    def split_rows(self, comparison_dict: dict, name1: str, name2: str, transformation_ctx="", **_):
        """Records matching every ``{path: {operator: value}}`` go to ``name1``, the rest
        (a missing value included) to ``name2``."""
        condition = F.lit(True)
        for path, tests in comparison_dict.items():
            column = fields.column(fields.require(self._df.schema, path))
            for operator, value in tests.items():
                if operator not in _COMPARISONS:
                    raise ValueError(f"split_rows: unknown operator {operator!r} for {path!r}")
                condition = condition & _COMPARISONS[operator](column, F.lit(value))
        matched = F.coalesce(condition, F.lit(False))
        return DynamicFrameCollection(
            {
                name1: self._new(self._df.filter(matched), name1),
                name2: self._new(self._df.filter(~matched), name2),
            },
            self.glue_ctx,
        )

    def split_fields(self, paths: list[str], name1: str, name2: str, transformation_ctx="", **_):
        return DynamicFrameCollection(
            {
                name1: DynamicFrame(self.select_fields(paths)._df, self.glue_ctx, name1),
                name2: DynamicFrame(self.drop_fields(paths)._df, self.glue_ctx, name2),
            },
            self.glue_ctx,
        )

    def join(
        self, paths1: list[str], paths2: list[str], frame2: DynamicFrame, transformation_ctx="", **_
    ):
        """Equality join; every field of both frames is kept (a key named alike on both sides
        once). Other fields named alike on both sides are refused: rename one first."""
        if len(paths1) != len(paths2):
            raise ValueError("join: paths1 and paths2 must name as many keys")
        left, right = self._df, frame2._df
        same_keys = [a for a, b in zip(paths1, paths2) if a == b]
        clash = (set(left.columns) & set(right.columns)) - set(same_keys)
        if clash:
            raise ValueError(
                f"join: both frames have field(s) {sorted(clash)}; rename one side first"
            )
        condition = None
        for a, b in zip(paths1, paths2):
            test = (
                left[fields.quote(fields.require(left.schema, a))]
                == right[fields.quote(fields.require(right.schema, b))]
            )
            condition = test if condition is None else condition & test
        joined = left.join(right, condition, "inner")
        for key in same_keys:
            joined = joined.drop(right[fields.quote([key])])
        return self._new(joined)

    def relationalize(
        self, root_table_name: str, staging_path: str, options=None, transformation_ctx="", **_
    ):
        from awsglue.relationalize import relationalize

        tables = relationalize(self._df, root_table_name)
        return DynamicFrameCollection(
            {name: DynamicFrame(df, self.glue_ctx, name) for name, df in tables.items()},
            self.glue_ctx,
        )

    def mergeDynamicFrame(
        self, stage_dynamic_frame: DynamicFrame, primary_keys: list[str], transformation_ctx="", **_
    ) -> DynamicFrame:
        """Records of the staging frame replace this frame's records with the same primary keys;
        the others of both are kept (duplicates are not removed)."""
        if not primary_keys:
            raise ValueError("mergeDynamicFrame needs primary_keys")
        stage = stage_dynamic_frame._df
        paths = [fields.quote(fields.require(self._df.schema, k)) for k in primary_keys]
        staged = stage.select(*(F.col(p).alias(f"__key{i}") for i, p in enumerate(paths)))
        condition = None
        for i, path in enumerate(paths):
            test = self._df[path] == staged[f"__key{i}"]
            condition = test if condition is None else condition & test
        kept = self._df.join(staged.distinct(), condition, "left_anti")
        return self._new(kept.unionByName(stage, allowMissingColumns=True))

    def write(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        accumulator_size: int = 0,
    ) -> DynamicFrame:
        return self.glue_ctx.write_dynamic_frame.from_options(
            self, connection_type, connection_options, format, format_options
        )

    def __getattr__(self, name: str):
        if name in NOT_IMPLEMENTED["DynamicFrame"]:
            raise NotImplementedError(not_implemented("DynamicFrame", name))
        raise AttributeError(f"'DynamicFrame' object has no attribute {name!r}")

    def spigot(self, path: str, options=None, transformation_ctx="", **_) -> DynamicFrame:
        """Writes the first ``topk`` records (default 100) as JSON under ``path``; the frame
        passes through."""
        top = int((options or {}).get("topk", 100))
        self._df.limit(top).coalesce(1).write.mode("overwrite").json(path)
        return self


class DynamicFrameCollection:
    """Named frames, as ``Relationalize`` and the ``split`` transforms return them."""

    def __init__(self, dynamic_frames: dict[str, DynamicFrame], glue_ctx):
        self._frames = dict(dynamic_frames)
        self.glue_ctx = glue_ctx

    def __getitem__(self, key: str) -> DynamicFrame:
        return self._frames[key]

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self):
        return iter(self._frames)

    def keys(self):
        return self._frames.keys()

    def values(self):
        return self._frames.values()

    def select(self, key: str, transformation_ctx="") -> DynamicFrame:
        if key not in self._frames:
            raise KeyError(f"no frame {key!r} in the collection (has {sorted(self._frames)})")
        return self._frames[key]

    def map(self, callable: Callable, transformation_ctx="") -> DynamicFrameCollection:
        return DynamicFrameCollection(
            {k: callable(v, f"{transformation_ctx}_{k}") for k, v in self._frames.items()},
            self.glue_ctx,
        )

    def flatmap(self, f: Callable, transformation_ctx="") -> DynamicFrameCollection:
        out: dict[str, DynamicFrame] = {}
        for key, frame in self._frames.items():
            result = f(frame, f"{transformation_ctx}_{key}")
            if isinstance(result, DynamicFrameCollection):
                out.update({f"{key}_{k}": v for k, v in result._frames.items()})
            else:
                out[key] = result
        return DynamicFrameCollection(out, self.glue_ctx)


class DynamicFrameReader:
    """``glueContext.create_dynamic_frame``: frames from S3 paths, the Data Catalog or JDBC."""

    def __init__(self, glue_context):
        self._glue_context = glue_context

    def from_options(
        self,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs,
    ) -> DynamicFrame:
        df = self._glue_context._read_options(
            connection_type,
            connection_options or {},
            format,
            format_options or {},
            transformation_ctx,
        )
        return DynamicFrame(df, self._glue_context, transformation_ctx)

    def from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs,
    ) -> DynamicFrame:
        database = database or kwargs.get("name_space")
        if not (database and table_name):
            raise ValueError("from_catalog needs database and table_name")
        df = self._glue_context._read_catalog(
            database,
            table_name,
            push_down_predicate,
            additional_options,
            transformation_ctx,
            catalog_id,
        )
        return DynamicFrame(df, self._glue_context, transformation_ctx)

    def from_rdd(self, data, name: str, schema=None, sampleRatio=None, **kwargs) -> DynamicFrame:
        spark = self._glue_context.spark_session
        return DynamicFrame(
            spark.createDataFrame(data, schema, sampleRatio), self._glue_context, name
        )


class DataFrameReader:
    """``glueContext.create_data_frame``: the same reads, as Spark DataFrames."""

    def __init__(self, glue_context):
        self._frames = DynamicFrameReader(glue_context)

    def from_options(self, *args, **kwargs) -> DataFrame:
        return self._frames.from_options(*args, **kwargs).toDF()

    def from_catalog(self, *args, **kwargs) -> DataFrame:
        return self._frames.from_catalog(*args, **kwargs).toDF()


class DynamicFrameWriter:
    """``glueContext.write_dynamic_frame``: to S3 paths, catalog tables or JDBC."""

    def __init__(self, glue_context):
        self._glue_context = glue_context

    def from_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: dict | None = None,
        format: str | None = None,
        format_options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        self._glue_context._write_options(
            frame, connection_type, connection_options or {}, format, format_options or {}
        )
        return frame

    def from_catalog(
        self,
        frame: DynamicFrame,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        additional_options: dict | None = None,
        catalog_id: str | None = None,
        **kwargs,
    ) -> DynamicFrame:
        database = database or kwargs.get("name_space")
        self._glue_context._write_catalog(
            frame, database, table_name, additional_options or {}, catalog_id
        )
        return frame

    def from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        self._glue_context._write_jdbc_conf(frame, catalog_connection, connection_options or {})
        return frame


# ------------------------------------------------------------------------------ helpers
def _errors(df: DataFrame, reasons) -> DataFrame | None:
    failed = reasons.filter(lambda r: r is not None).map(lambda r: (r,))
    if failed.isEmpty():
        return None
    return df.sparkSession.createDataFrame(failed, "error string")


def _cast(column, field: T.StructField, target_type: str):
    """A field's value as ``target_type``; a choice takes the value of its target-typed option
    first, else the first option that casts."""
    sql = gluetypes.sql_type(target_type)
    if not gluetypes.is_choice(field):
        return column.cast(sql)
    options = sorted(
        field.dataType.fields,
        key=lambda o: gluetypes.sql_type(o.name) != sql if o.name in gluetypes.SQL_NAMES else True,
    )
    return F.coalesce(*[column.getField(o.name).cast(sql) for o in options])


def _resolve(df: DataFrame, names: list[str], field: T.StructField, action: str) -> DataFrame:
    verb, _, argument = action.partition(":")
    column = fields.column(names)
    if verb == "cast":
        return fields.with_value(df, names, _cast(column, field, argument), {})
    if not gluetypes.is_choice(field):
        if verb == "project":
            return fields.with_value(df, names, column.cast(gluetypes.sql_type(argument)), {})
        return df  # make_cols / make_struct leave a plain field as it is
    if verb == "project":
        sql = gluetypes.sql_type(argument)
        kept = [
            o
            for o in field.dataType.fields
            if o.name in gluetypes.SQL_NAMES and gluetypes.sql_type(o.name) == sql
        ]
        value = column.getField(kept[0].name) if kept else F.lit(None).cast(sql)
        return fields.with_value(df, names, value, {})
    if verb == "make_struct":
        return fields.with_value(df, names, column, {})
    if verb == "make_cols":
        for option in field.dataType.fields:
            target = [*names[:-1], f"{names[-1]}_{option.name}"]
            df = fields.with_value(df, target, column.getField(option.name), {})
        if len(names) == 1:  # the new columns where the choice was
            position = df.columns.index(names[0])
            made = [f"{names[0]}_{o.name}" for o in field.dataType.fields]
            rest = [c for c in df.columns if c not in made and c != names[0]]
            order = rest[:position] + made + rest[position:]
            return df.select(*[F.col(fields.quote([c])) for c in order])
        return fields.without(df, names)
    raise ValueError(
        f"resolveChoice: unknown action {action!r} for {fields.quote(names)} "
        "(cast:type, project:type, make_cols, make_struct, match_catalog)"
    )
