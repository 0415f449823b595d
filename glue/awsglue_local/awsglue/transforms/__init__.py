"""Glue's transforms as classes with ``apply`` (``ApplyMapping.apply(frame=…, mappings=…)``),
each the DynamicFrame method of the same work. The bookkeeping arguments every transform takes
(``transformation_ctx``, ``info``, ``stageThreshold``, ``totalThreshold``) are accepted."""

from __future__ import annotations

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection


class GlueTransform:
    @classmethod
    def apply(cls, *args, **kwargs):
        return cls()(*args, **kwargs)

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.__name__, "description": (cls.__doc__ or "").strip()}


def _bookkeeping(kwargs: dict) -> dict:
    return {
        k: kwargs[k]
        for k in ("transformation_ctx", "info", "stageThreshold", "totalThreshold")
        if k in kwargs
    }


class ApplyMapping(GlueTransform):
    """Fields renamed and cast by (source, source type, target, target type) mappings."""

    def __call__(self, frame: DynamicFrame, mappings, case_sensitive=False, **kwargs):
        return frame.apply_mapping(mappings, case_sensitive, **_bookkeeping(kwargs))


class SelectFields(GlueTransform):
    """Only the named fields."""

    def __call__(self, frame: DynamicFrame, paths, **kwargs):
        return frame.select_fields(paths, **_bookkeeping(kwargs))


class DropFields(GlueTransform):
    """All but the named fields."""

    def __call__(self, frame: DynamicFrame, paths, **kwargs):
        return frame.drop_fields(paths, **_bookkeeping(kwargs))


class RenameField(GlueTransform):
    """One field under a new name (a path: it may move into a struct)."""

    def __call__(self, frame: DynamicFrame, old_name, new_name, **kwargs):
        return frame.rename_field(old_name, new_name, **_bookkeeping(kwargs))


class ResolveChoice(GlueTransform):
    """Choice fields made plain: cast, project, make_cols, make_struct, match_catalog."""

    def __call__(
        self,
        frame: DynamicFrame,
        specs=None,
        choice="",
        database=None,
        table_name=None,
        catalog_id=None,
        **kwargs,
    ):
        return frame.resolveChoice(
            specs, choice, database, table_name, catalog_id=catalog_id, **_bookkeeping(kwargs)
        )


class Filter(GlueTransform):
    """The records for which ``f(record)`` is true."""

    def __call__(self, frame: DynamicFrame, f, **kwargs):
        return frame.filter(f, **_bookkeeping(kwargs))


class Map(GlueTransform):
    """``f(record)`` of every record."""

    def __call__(self, frame: DynamicFrame, f, **kwargs):
        return frame.map(f, **_bookkeeping(kwargs))


class Join(GlueTransform):
    """Equality join of two frames on keys1 = keys2."""

    def __call__(self, frame1: DynamicFrame, frame2: DynamicFrame, keys1, keys2, **kwargs):
        return frame1.join(keys1, keys2, frame2, **_bookkeeping(kwargs))


class DropNullFields(GlueTransform):
    """Fields that are null (or absent) in every record are dropped."""

    def __call__(self, frame: DynamicFrame, **kwargs):
        from pyspark.sql import functions as F

        df = frame.toDF()
        if not df.columns:
            return frame
        counts = df.agg(
            *[F.count(F.col(f"`{c}`")).alias(str(i)) for i, c in enumerate(df.columns)]
        ).first()
        empty = [c for i, c in enumerate(df.columns) if counts[str(i)] == 0]
        return frame._new(df.drop(*empty))


class Relationalize(GlueTransform):
    """Nested records as flat tables: the root and one per array (``id``/``index`` links)."""

    def __call__(
        self, frame: DynamicFrame, staging_path="", name="roottable", options=None, **kwargs
    ):
        return frame.relationalize(name, staging_path, options, **_bookkeeping(kwargs))


class SplitFields(GlueTransform):
    """Two frames: the named fields, and the others."""

    def __call__(self, frame: DynamicFrame, paths, name1=None, name2=None, **kwargs):
        name1 = name1 or f"{frame.name}_split_fields_1"
        name2 = name2 or f"{frame.name}_split_fields_2"
        return frame.split_fields(paths, name1, name2, **_bookkeeping(kwargs))


class SplitRows(GlueTransform):
    """Two frames: the records matching every comparison, and the others."""

    def __call__(self, frame: DynamicFrame, comparison_dict, name1="", name2="", **kwargs):
        name1 = name1 or f"{frame.name}_split_rows_1"
        name2 = name2 or f"{frame.name}_split_rows_2"
        return frame.split_rows(comparison_dict, name1, name2, **_bookkeeping(kwargs))


class Unbox(GlueTransform):
    """A string field holding JSON, parsed into its struct."""

    def __call__(self, frame: DynamicFrame, path, format, **kwargs):
        return frame.unbox(path, format, **kwargs)


class UnnestFrame(GlueTransform):
    """Nested struct fields as top-level fields named by their path."""

    def __call__(self, frame: DynamicFrame, **kwargs):
        return frame.unnest(**_bookkeeping(kwargs))


class SelectFromCollection(GlueTransform):
    """One frame of a DynamicFrameCollection, by its key."""

    def __call__(self, dfc: DynamicFrameCollection, key: str, **kwargs):
        return dfc.select(key)


__all__ = [
    "ApplyMapping",
    "DropFields",
    "DropNullFields",
    "Filter",
    "GlueTransform",
    "Join",
    "Map",
    "Relationalize",
    "RenameField",
    "ResolveChoice",
    "SelectFields",
    "SelectFromCollection",
    "SplitFields",
    "SplitRows",
    "Unbox",
    "UnnestFrame",
]
