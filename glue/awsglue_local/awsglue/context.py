"""``GlueContext``: the Spark session, readers and writers of dynamic frames (S3 paths, the Data
Catalog, JDBC), sinks that keep the catalog in step, purging, and the run's job bookmarks."""

from __future__ import annotations

import atexit
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from awsglue import catalog, formats, storage
from awsglue.bookmarks import Bookmarks
from awsglue.data_sink import DataSink
from awsglue.dynamicframe import (
    NOT_IMPLEMENTED,
    DataFrameReader,
    DynamicFrame,
    DynamicFrameReader,
    DynamicFrameWriter,
    not_implemented,
)

JDBC_DRIVERS = {
    "postgresql": "org.postgresql.Driver",
    "mysql": "com.mysql.cj.jdbc.Driver",
    "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "oracle": "oracle.jdbc.OracleDriver",
    "redshift": "com.amazon.redshift.jdbc42.Driver",
}


class GlueLogger:
    """What ``get_logger()`` returns: info, warn, error (as Glue's logger has them)."""

    def __init__(self, logger: logging.Logger):
        self._log = logger

    def info(self, message: str) -> None:
        self._log.info(message)

    def warn(self, message: str) -> None:
        self._log.warning(message)

    warning = warn

    def error(self, message: str) -> None:
        self._log.error(message)

    def debug(self, message: str) -> None:
        self._log.debug(message)


class GlueContext:
    def __init__(self, sparkContext, **options):
        self._sc = sparkContext
        self.spark_session = SparkSession.builder.getOrCreate()
        # Glue ends the job's session when the script ends: its Spark UI event log complete
        atexit.register(self.spark_session.stop)
        self._bookmarks = Bookmarks()
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.create_data_frame = DataFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)

    def get_logger(self) -> GlueLogger:
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        return GlueLogger(logging.getLogger("GlueLogger"))

    def __getattr__(self, name: str):
        if name in NOT_IMPLEMENTED["GlueContext"]:
            raise NotImplementedError(not_implemented("GlueContext", name))
        raise AttributeError(f"'GlueContext' object has no attribute {name!r}")

    def create_dynamic_frame_from_rdd(self, *args, **kwargs) -> DynamicFrame:
        return self.create_dynamic_frame.from_rdd(*args, **kwargs)

    # ------------------------------------------------------------ Glue's flat method names
    def create_dynamic_frame_from_options(self, *args, **kwargs) -> DynamicFrame:
        return self.create_dynamic_frame.from_options(*args, **kwargs)

    def create_dynamic_frame_from_catalog(self, *args, **kwargs) -> DynamicFrame:
        return self.create_dynamic_frame.from_catalog(*args, **kwargs)

    def write_dynamic_frame_from_options(self, *args, **kwargs) -> DynamicFrame:
        return self.write_dynamic_frame.from_options(*args, **kwargs)

    def write_dynamic_frame_from_catalog(self, *args, **kwargs) -> DynamicFrame:
        return self.write_dynamic_frame.from_catalog(*args, **kwargs)

    def write_dynamic_frame_from_jdbc_conf(self, *args, **kwargs) -> DynamicFrame:
        return self.write_dynamic_frame.from_jdbc_conf(*args, **kwargs)

    def getSink(
        self,
        connection_type: str = "s3",
        format: str | None = None,
        transformation_ctx: str = "",
        **options,
    ) -> DataSink:
        if connection_type != "s3":
            raise NotImplementedError(
                f"getSink(connection_type={connection_type!r}) is not implemented locally; s3 is "
                "(see the README's awsglue table)"
            )
        return DataSink(self, format, options)

    def purge_s3_path(self, s3_path: str, options: dict | None = None, transformation_ctx=""):
        storage.purge(s3_path, options)

    def purge_table(
        self, database: str, table_name: str, options=None, transformation_ctx="", catalog_id=None
    ):
        """Purges the table's files by age; a partition left without files leaves the catalog."""
        found = catalog.table(database, table_name, catalog_id)
        glue = catalog.client()
        if not found.partition_keys:
            storage.purge(found.location, options)
            return
        gone = []
        for partition in catalog.partitions(found, glue, catalog_id):
            location = partition["StorageDescriptor"]["Location"]
            storage.purge(location, options)
            if not storage.list_files([location.rstrip("/") + "/"], recurse=True):
                gone.append({"Values": partition["Values"]})
        for start in range(0, len(gone), 25):
            glue.batch_delete_partition(
                DatabaseName=database,
                TableName=table_name,
                PartitionsToDelete=gone[start : start + 25],
            )

    def extract_jdbc_conf(self, connection_name: str, catalog_id=None) -> dict:
        connection = catalog.client().get_connection(Name=connection_name)["Connection"]
        properties = connection.get("ConnectionProperties", {})
        url = properties.get("JDBC_CONNECTION_URL", "")
        return {
            "url": url,
            "fullUrl": url,
            "user": properties.get("USERNAME", ""),
            "password": properties.get("PASSWORD", ""),
            "vendor": url.split(":")[1] if url.startswith("jdbc:") else "",
        }

    # ------------------------------------------------------------------------ reading
    def _read_options(
        self,
        connection_type: str,
        connection_options: dict,
        format: str | None,
        format_options: dict,
        transformation_ctx: str,
    ) -> DataFrame:
        if connection_type in JDBC_DRIVERS:
            return self._jdbc_reader(connection_type, connection_options).load()
        if connection_type != "s3":
            raise NotImplementedError(
                f"connection_type {connection_type!r} is not implemented locally; s3 and JDBC "
                f"({', '.join(JDBC_DRIVERS)}) are (see the README's awsglue table)"
            )
        paths = connection_options.get("paths") or []
        if isinstance(paths, str):
            paths = [paths]
        if not paths:
            raise ValueError("connection_options needs 'paths' (a list of s3:// paths)")
        files = storage.list_files(
            paths,
            recurse=formats._flag(connection_options.get("recurse", False)),
            exclusions=connection_options.get("exclusions"),
        )
        files = self._bookmarks.new_files(transformation_ctx, files)
        return formats.read(
            self.spark_session, [f.uri for f in files], format, format_options or {}
        )

    def _read_catalog(
        self,
        database: str,
        table_name: str,
        push_down_predicate: str = "",
        additional_options: dict | None = None,
        transformation_ctx: str = "",
        catalog_id=None,
    ) -> DataFrame:
        """The table's files as its catalog entry describes them; a partitioned table's
        partitions (those ``push_down_predicate`` keeps) with their values as fields."""
        options = dict(additional_options or {})
        found = catalog.table(database, table_name, catalog_id)
        format_options = {**found.options, **options}
        names = [c["Name"] for c in found.columns]
        if not found.partition_keys:
            files = storage.list_files([found.location.rstrip("/") + "/"], recurse=True)
            files = self._bookmarks.new_files(transformation_ctx, files)
            return formats.read(
                self.spark_session, [f.uri for f in files], found.format, format_options, names
            )
        keys = found.partition_keys
        chosen = catalog.partitions(found, catalog.client(), catalog_id)
        predicate = " AND ".join(
            f"({p})" for p in (push_down_predicate, options.get("catalogPartitionPredicate")) if p
        )
        if predicate and chosen:
            values = self.spark_session.createDataFrame(
                [[*p["Values"], i] for i, p in enumerate(chosen)],
                ", ".join([*(f"`{k['Name']}` string" for k in keys), "__glue_partition int"]),
            )
            typed = values.select(
                *[
                    F.col(f"`{k['Name']}`").cast(k.get("Type", "string")).alias(k["Name"])
                    for k in keys
                ],
                "__glue_partition",
            )
            kept = {r[0] for r in typed.filter(predicate).select("__glue_partition").collect()}
            chosen = [p for i, p in enumerate(chosen) if i in kept]
        parts = []
        for partition in chosen:
            location = partition["StorageDescriptor"]["Location"].rstrip("/") + "/"
            files = self._bookmarks.new_files(
                transformation_ctx, storage.list_files([location], recurse=True)
            )
            if not files:
                continue
            if found.format == "csv":
                df = formats.read_csv_text(
                    self.spark_session, [f.uri for f in files], format_options, names
                )
            else:
                df = formats.read(
                    self.spark_session, [f.uri for f in files], found.format, format_options
                )
            for key, value in zip(keys, partition["Values"]):
                df = df.withColumn(key["Name"], F.lit(value))
            parts.append(df)
        if not parts:
            return self.spark_session.createDataFrame([], "__empty string").drop("__empty")
        df = parts[0]
        for other in parts[1:]:
            df = df.unionByName(other, allowMissingColumns=True)
        key_names = [k["Name"] for k in keys]
        if found.format == "csv":  # typed over every partition read, as one table
            df = formats.type_text_columns(df, keep=key_names)
        return df.select(
            *[F.col(f"`{c}`") for c in df.columns if c not in key_names],
            *[F.col(f"`{k['Name']}`").cast(k.get("Type", "string")).alias(k["Name"]) for k in keys],
        )

    def _catalog_column_types(self, database: str, table_name: str, catalog_id=None) -> dict:
        return catalog.column_types(catalog.table(database, table_name, catalog_id))

    # ------------------------------------------------------------------------ writing
    def _write_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: dict,
        format: str | None,
        format_options: dict,
    ) -> None:
        if connection_type in JDBC_DRIVERS:
            self._jdbc_write(frame.toDF(), connection_type, connection_options)
            return
        if connection_type != "s3":
            raise NotImplementedError(
                f"connection_type {connection_type!r} is not implemented locally; s3 and JDBC "
                f"({', '.join(JDBC_DRIVERS)}) are (see the README's awsglue table)"
            )
        path = connection_options.get("path")
        if not path:
            raise ValueError("connection_options needs 'path' for an s3 write")
        formats.write(
            frame.toDF(),
            path,
            format or "",
            format_options or {},
            list(connection_options.get("partitionKeys", [])),
        )

    def _write_catalog(
        self,
        frame: DynamicFrame,
        database: str,
        table_name: str,
        additional_options: dict,
        catalog_id=None,
    ) -> None:
        found = catalog.table(database, table_name, catalog_id)
        keys = [k["Name"] for k in found.partition_keys] or list(
            additional_options.get("partitionKeys", [])
        )
        df = frame.toDF()
        formats.write(
            df, found.location, found.format, {**found.options, **additional_options}, keys
        )
        if formats._flag(additional_options.get("enableUpdateCatalog", False)) and keys:
            values = [[str(v) for v in row] for row in df.select(*keys).distinct().collect()]
            catalog.add_partitions(database, found.raw, values)

    def _jdbc_url_options(self, connection_type: str, options: dict) -> dict:
        url = options.get("url")
        if not url:
            raise ValueError(
                f"connection_options for {connection_type} need 'url', 'user', 'password', 'dbtable'"
            )
        return {
            "url": url,
            "user": options.get("user", ""),
            "password": options.get("password", ""),
            "dbtable": options.get("dbtable", ""),
            "driver": JDBC_DRIVERS[connection_type],
        }

    def _require_driver(self, connection_type: str) -> None:
        driver = JDBC_DRIVERS[connection_type]
        jvm = self._sc._jvm
        try:
            jvm.java.lang.Class.forName(
                driver, True, jvm.java.lang.Thread.currentThread().getContextClassLoader()
            )
        except Exception as exc:
            raise RuntimeError(
                f"{connection_type}: the JDBC driver {driver} is not on this run's classpath; give "
                "the job its jar with the argument --extra-jars s3://bucket/path/driver.jar "
                "(as Glue takes one)"
            ) from exc

    def _jdbc_reader(self, connection_type: str, options: dict):
        self._require_driver(connection_type)
        reader = self.spark_session.read.format("jdbc")
        for key, value in self._jdbc_url_options(connection_type, options).items():
            reader = reader.option(key, value)
        return reader

    def _jdbc_write(self, df: DataFrame, connection_type: str, options: dict) -> None:
        self._require_driver(connection_type)
        writer = df.write.format("jdbc").mode("append")
        for key, value in self._jdbc_url_options(connection_type, options).items():
            writer = writer.option(key, value)
        writer.save()

    def _write_jdbc_conf(
        self, frame: DynamicFrame, catalog_connection: str, connection_options: dict
    ):
        conf = self.extract_jdbc_conf(catalog_connection)
        vendor = conf["vendor"]
        if vendor not in JDBC_DRIVERS:
            raise NotImplementedError(
                f"JDBC vendor {vendor!r} of connection {catalog_connection!r} is not implemented "
                f"locally; {', '.join(JDBC_DRIVERS)} are (see the README's awsglue table)"
            )
        url = conf["url"]
        if connection_options.get("database"):
            url = url.rsplit("/", 1)[0] + "/" + connection_options["database"]
        self._jdbc_write(
            frame.toDF(),
            vendor,
            {**connection_options, "url": url, "user": conf["user"], "password": conf["password"]},
        )
