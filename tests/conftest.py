import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for path in (
    ROOT / "glue",
    ROOT / "glue" / "awsglue_local",
    ROOT / "lambda" / "trigger_dag",
    ROOT / "airflow" / "dags",
    ROOT,
):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Spark's Python workers import the local awsglue too (a map function's records), as in local runs
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT / "glue" / "awsglue_local"), os.environ.get("PYTHONPATH", "")) if p
)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# py4j logs at interpreter exit, after pytest closed its capture streams
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session (start-up costs ~10 s), with the JVM
    options of local Glue runs (the class archive among them)."""
    from pyspark.sql import SparkSession

    from devstack.services.glue.runtime import Runtime

    session = (
        SparkSession.builder.master("local[2]")
        .appName("music-streaming-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", Runtime().java_options())
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
