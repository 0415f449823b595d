"""A small Spark job over local files, run by ``python -m devstack.services.glue.runtime
class-archive`` (scripts/install) so that the classes a job driver loads (CSV, SQL, joins, windows,
Parquet) are dumped into the class archive every later local Glue run starts from.

    spark-submit spark_warm_up.py --work_dir DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F


def main(work: Path) -> None:
    spark = SparkSession.builder.getOrCreate()
    plays = work / "plays.csv"
    plays.write_text(
        "user_id,track_id,listen_time\n"
        + "".join(f"u{i % 7},t{i % 5},2024-06-0{1 + i % 3} 10:00:00\n" for i in range(200))
    )
    tracks = spark.createDataFrame(
        [(f"t{i}", f"g{i % 2}") for i in range(5)], "track_id string, genre string"
    )
    (
        spark.read.option("header", True)
        .csv(str(plays))
        .withColumn("listen_date", F.to_date("listen_time"))
        .join(F.broadcast(tracks), "track_id", "left")
        .repartition("genre")
        .write.mode("overwrite")
        .partitionBy("genre")
        .parquet(str(work / "out"))
    )
    counts = spark.read.parquet(str(work / "out")).groupBy("listen_date", "genre", "track_id")
    by_day = Window.partitionBy("listen_date", "genre").orderBy(F.desc("count"))
    counts.count().withColumn("rank", F.dense_rank().over(by_day)).filter("rank <= 5").collect()
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[sys.argv.index("--work_dir") + 1]))
