"""``DataSink`` (``glueContext.getSink``): an S3 write that keeps the Data Catalog in step."""

from __future__ import annotations

from awsglue import catalog, formats


class DataSink:
    def __init__(self, glue_context, format: str | None, options: dict):
        self._glue_context = glue_context
        self.format = format
        self.format_options: dict = {}
        self.path = options.get("path", "")
        self.partition_keys = list(options.get("partitionKeys", []))
        self.update_catalog = formats._flag(options.get("enableUpdateCatalog", False))
        behaviour = options.get("updateBehavior", "UPDATE_IN_DATABASE")
        if behaviour not in ("UPDATE_IN_DATABASE", "LOG"):
            raise ValueError(f"updateBehavior {behaviour!r}: UPDATE_IN_DATABASE or LOG")
        self.update_columns = behaviour == "UPDATE_IN_DATABASE"
        self.compression = options.get("compression")
        self.database = self.table_name = None

    def setFormat(self, format: str, **options) -> None:
        self.format = format
        self.format_options = options

    def setCatalogInfo(self, catalogDatabase: str, catalogTableName: str, catalogId=None) -> None:
        self.database, self.table_name = catalogDatabase, catalogTableName

    def writeFrame(self, dynamic_frame, info: str = ""):
        """Writes the frame; with ``enableUpdateCatalog`` the table is created if missing (new
        columns added under ``UPDATE_IN_DATABASE``) and every partition written is registered."""
        if not self.path:
            raise ValueError("getSink needs path= for an s3 sink")
        df = dynamic_frame.toDF()
        options = dict(self.format_options)
        if self.compression:
            options["compression"] = self.compression
        formats.write(df, self.path, self.format or "parquet", options, self.partition_keys)
        if self.update_catalog:
            if not (self.database and self.table_name):
                raise ValueError("enableUpdateCatalog needs setCatalogInfo(database, table)")
            table = catalog.ensure_table(
                self.database,
                self.table_name,
                self.path,
                self.format or "parquet",
                df.schema,
                self.partition_keys,
                self.update_columns,
            )
            if self.partition_keys:
                values = [
                    [str(v) for v in row]
                    for row in df.select(*self.partition_keys).distinct().collect()
                ]
                catalog.add_partitions(self.database, {**table, "Name": self.table_name}, values)
        return dynamic_frame

    write = writeFrame
