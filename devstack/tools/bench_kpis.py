"""Benchmark: the ETL's KPI computation on local Spark vs the same KPIs in DuckDB, on the same
generated data (read CSV, join, six KPIs, results collected). Spark reads the files as the ETL
job reads its archived copies (``spark_io.read_files``), from disk instead of S3. Each engine runs in its own process;
prints wall time, rows/s, peak RSS and the Spark/DuckDB ratio.

    scripts/bench_kpis [--sizes 1000000 5000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zlib
from functools import partial
from pathlib import Path
from typing import Iterator

from devstack.core import paths
from devstack.core.arguments import positive_int
from music_streaming import spark_io

SONGS_PER_STREAM, USERS_PER_STREAM = 0.02, 0.01


def dataset(size: int) -> Path:
    out = paths.CACHE_DIR / "bench" / f"streams-{size}"
    if not (out / ".done").exists():
        print(f"generating {size:,} streams in {out.relative_to(paths.ROOT)} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(paths.ROOT / "scripts" / "generate_data.py"),
                str(out),
                "--streams",
                str(size),
                "--songs",
                str(max(1000, int(size * SONGS_PER_STREAM))),
                "--users",
                str(max(500, int(size * USERS_PER_STREAM))),
                "--days",
                "7",
                "--files",
                "4",
                "--seed",
                "1",
            ],
            check=True,
        )
        (out / ".done").touch()
    return out


def report_entries(folder: Path) -> list[dict]:
    """What validation's report says of each CSV in ``folder``: header, size, CRC32."""
    entries = []
    for index, path in enumerate(sorted(folder.glob("*.csv"))):
        data = path.read_bytes()
        header = data.split(b"\n", 1)[0].decode("utf-8-sig").strip()
        entries.append(
            {
                "copy": str(path),
                "key": f"{folder.name}/{path.name}",
                "version_id": "v1",
                "upload_order": f"{index:04d}",
                "columns": [c.strip() for c in header.split(",")],
                "bytes": len(data),
                "crc32": zlib.crc32(data),
            }
        )
    return entries


def local_copy(entry: dict) -> Iterator[bytes]:
    """``fetch`` of a copy on disk."""
    with open(entry["copy"], "rb") as body:
        yield from iter(partial(body.read, spark_io.CHUNK_BYTES), b"")


def run_spark(data: Path) -> dict:
    from pyspark.sql import SparkSession

    from music_streaming import config, kpis

    started = time.monotonic()
    builder = SparkSession.builder.master("local[2]").appName("bench-kpis")
    for key, value in {
        **config.SPARK_CONF,
        "spark.ui.enabled": "false",
        "spark.driver.memory": "4g",
        "spark.ui.showConsoleProgress": "false",
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.monotonic() - started

    # the files as the report lists them (sizes and CRC32s from validation), outside the timing
    listed = {name: report_entries(data / name) for name in ("songs", "users", "streams")}

    def read(name: str):  # as the ETL job reads its copies, from disk instead of S3
        return spark_io.read_files(spark, listed[name], name, local_copy)

    started = time.monotonic()
    songs = kpis.song_dimension(read("songs")).cache()
    users = kpis.user_dimension(read("users")).cache()
    valid, _rejected = kpis.split_streams(kpis.typed_streams(read("streams")))
    rows = kpis.collect_daily_kpis(valid, songs, users)
    counts = {name: len(result) for name, result in rows.items()}
    return {"seconds": time.monotonic() - started, "startup_seconds": session_s, "rows": counts}


def run_duckdb(data: Path) -> dict:
    from devstack.tools import kpi_duckdb

    started = time.monotonic()
    results = kpi_duckdb.compute(
        sorted((data / "streams").glob("*.csv")),
        sorted((data / "songs").glob("*.csv")),
        sorted((data / "users").glob("*.csv")),
    )
    return {
        "seconds": time.monotonic() - started,
        "startup_seconds": 0.0,
        "rows": {name: len(rows) for name, rows in results.items()},
    }


def _tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc), in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(engine: str, data: Path) -> dict:
    """Runs one engine in a fresh process; adds the peak RSS of its process tree (JVM included)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "bench-kpis", "--engine", engine, "--data", str(data)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable},
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_kib(process.pid))
        time.sleep(0.25)
    output = process.stdout.read()
    if process.returncode:
        raise RuntimeError(f"{engine} run failed ({process.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mib"] = peak / 1024
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[1_000_000, 5_000_000])
    # One engine on one data set: the measured child process.
    parser.add_argument("--engine", choices=["spark", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, cfg=None) -> int:
    if args.engine:
        print(json.dumps((run_spark if args.engine == "spark" else run_duckdb)(args.data)))
        return 0
    print(
        f"{'streams':>10} {'engine':>7} {'wall s':>8} {'rows/s':>12} {'peak MiB':>9} "
        f"{'startup s':>9}  KPI rows"
    )
    for size in args.sizes:
        data = dataset(size)
        results = {engine: measure(engine, data) for engine in ("duckdb", "spark")}
        for engine, r in results.items():
            print(
                f"{size:>10,} {engine:>7} {r['seconds']:>8.2f} {size / r['seconds']:>12,.0f} "
                f"{r['peak_rss_mib']:>9,.0f} {r['startup_seconds']:>9.1f}  {r['rows']}",
                flush=True,
            )
        ratio = results["spark"]["seconds"] / results["duckdb"]["seconds"]
        print(f"{size:>10,}   ratio spark/duckdb = {ratio:.2f}x (target <= 3x)", flush=True)
    return 0
