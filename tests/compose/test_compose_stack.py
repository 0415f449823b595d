"""`docker compose up` for real: a Docker engine started here, the project's images built on
stand-ins of their upstream bases (.ci/images, from a debootstrapped Debian: no registry is
reachable), the stack's own docker-compose.yml layered with docker-compose.ci.yml (MiniStack for
LocalStack), the sample uploaded, and the KPIs compared with the independent computation. Then
`down -v`, the engine stopped and the host's network settings restored."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import compose_cli
import engine
import images
import pytest

from devstack.core import emulator, paths
from devstack.runtime.stack import free_port
from devstack.tools import query
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from devstack.tools.kpi_query import fetch
from music_streaming import config
from music_streaming import ledger as file_ledger

pytestmark = pytest.mark.compose
WORK = paths.ROOT / ".cache" / "compose-ci"
SETTINGS = config.settings()


# each day's and genre's plays from the catalog's tables, as the KPIs count them
PLAYS = """
    WITH song AS (SELECT track_id, min(genre) AS genre FROM songs GROUP BY track_id),
    plays AS (SELECT DISTINCT user_id, track_id, listen_time, listen_date FROM streams)
    SELECT CAST(listen_date AS VARCHAR) AS day, genre, count(*) AS plays
    FROM plays JOIN song USING (track_id) GROUP BY 1, 2"""


def client(kind: str, service: str, port: int):
    return getattr(boto3, kind)(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=config.DEFAULT_REGION,
        aws_access_key_id=emulator.LOCAL_ACCESS_KEY,
        aws_secret_access_key=emulator.LOCAL_SECRET_KEY,
    )


def wait_archived(dynamodb, count: int, timeout: float) -> list[dict]:
    table = dynamodb.Table(config.file_tracker_table(str(SETTINGS["dynamodb_table_name"])))
    deadline = time.monotonic() + timeout
    while True:
        items = [i for i in table.scan()["Items"] if "key" in i]
        if len(items) >= count and all(i["state"] in file_ledger.TERMINAL for i in items):
            return items
        if time.monotonic() > deadline:
            raise TimeoutError(f"files not decided: {[(i['key'], i['state']) for i in items]}")
        time.sleep(3)


def test_docker_compose_up_runs_the_pipeline_to_the_independent_kpis(capsys):
    reason = engine.why_not_here()
    if reason:
        pytest.skip(reason)
    WORK.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        compose_binary = pool.submit(compose_cli.ensure, WORK)  # CPU-bound; images mostly wait
        with engine.running_engine(WORK / "engine") as env:
            tags, built = images.build_bases(env, WORK)
            binary = str(compose_binary.result())
            timings["engine, bases and Compose v2 ready"] = time.monotonic() - started
            ports = {
                name: free_port() for name in ("LOCALSTACK", "GLUE", "MWAA", "ATHENA", "AIRFLOW")
            }
            env.update(
                AIRFLOW_BASE_IMAGE=tags["airflow-base"],
                GLUE_BASE_IMAGE=tags["glue-base"],
                CI_MINISTACK_IMAGE=tags["ministack"],
                CI_POSTGRES_IMAGE=tags["postgres"],
                **{f"{name}_PORT": str(port) for name, port in ports.items()},
            )
            compose = [
                binary,
                "--project-directory", str(paths.ROOT),
                "-f", str(paths.ROOT / "docker-compose.yml"),
                "-f", str(paths.ROOT / "docker-compose.ci.yml"),
            ]  # fmt: skip
            # as a user behind a TLS-inspecting proxy does (git-ignored there)
            images.host_certificates(paths.ROOT / "airflow" / "ca-certificates")
            try:
                subprocess.run([*compose, "build"], env=env, check=True, capture_output=True)
                mark = time.monotonic()
                subprocess.run(
                    [*compose, "up", "-d", "--wait", "--wait-timeout", "600"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                timings["up to all healthy"] = time.monotonic() - mark

                mark = time.monotonic()
                s3 = client("client", "s3", ports["LOCALSTACK"])
                sample = {
                    dataset: sorted((paths.SAMPLE_DATA_DIR / dataset).glob("*.csv"))
                    for dataset in ("songs", "users", "streams")
                }
                for dataset, files in sample.items():
                    for path in files:
                        s3.upload_file(
                            str(path), SETTINGS["raw_data_bucket"], f"{dataset}/{path.name}"
                        )
                dynamodb = client("resource", "dynamodb", ports["LOCALSTACK"])
                items = wait_archived(dynamodb, sum(map(len, sample.values())), 600)
                timings["upload to every file decided"] = time.monotonic() - mark
                assert {i["state"] for i in items} == {file_ledger.ARCHIVED}
                kpis = fetch(dynamodb.Table(SETTINGS["dynamodb_table_name"]), None, None)
                expected = expected_items(sample["streams"], sample["songs"], sample["users"])
                assert kpi_items_only(kpis) == expected
                # the catalog's tables through the Compose stack's Athena API give the same plays
                plays = query.run_athena(client("client", "athena", ports["ATHENA"]), PLAYS, 10000)
                daily = {
                    (i["date"], i["genre"]): int(i["listen_count"])
                    for i in kpis
                    if i["sk"] == "METRIC#DAILY"
                }
                assert daily and {(r[0], r[1]): r[2] for r in plays.rows} == daily
            except (subprocess.CalledProcessError, AssertionError, TimeoutError):
                logs = subprocess.run(
                    [*compose, "logs", "--no-color", "--tail", "40"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                print(logs.stdout[-20000:])
                raise
            finally:
                subprocess.run([*compose, "down", "-v"], env=env, capture_output=True)
            listing = subprocess.run(
                [engine.docker_cli(), "images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout.splitlines()
            wanted = {*tags.values(), "music-streaming/airflow:local", "music-streaming/glue:local"}
            sizes = "; ".join(line for line in listing if line.split()[0] in wanted)
            # what earlier builds left behind (kept tags are what the next run reuses)
            subprocess.run(
                [engine.docker_cli(), "image", "prune", "-f"], env=env, capture_output=True
            )
    timings["total"] = time.monotonic() - started
    with capsys.disabled():
        print("\ncompose e2e:", {k: round(v, 1) for k, v in timings.items()})
        print("bases built:", built or "none (reused)")
        print("images:", sizes)
