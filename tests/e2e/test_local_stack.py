"""The pipeline end to end on the local stack: upload -> S3 notification -> Lambda -> MWAA API ->
Airflow DAG -> Glue runs -> S3/DynamoDB, and the daily DAG over files no event reported. Each test
uses its own days so KPIs do not mix."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
import system_tests
from live_stack import generate

from devstack.core import airflow_api, emulator, local_tls, paths
from devstack.provision import bootstrap, iam_roles
from devstack.runtime.stack import free_port
from devstack.tools import stack_state
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from music_streaming import aws, catalog, config, kpi_snapshot, layout
from music_streaming import ledger as file_ledger

pytestmark = pytest.mark.e2e


def csvs(root: Path, dataset: str) -> list[Path]:
    return sorted((root / dataset).glob("*.csv"))


def days(first: str) -> set[str]:
    year, month, day = first.split("-")
    return {first, f"{year}-{month}-{int(day) + 1:02d}"}


# The catalogue of the first batch: later tests' streams come from the same seed (the same ids).
CATALOGUE_SEED = 11


@pytest.fixture(scope="module")
def first_batch(live, tmp_path_factory):
    """Songs, users and streams of two days uploaded one after the other, as a user would."""
    data = generate(tmp_path_factory.mktemp("a"), "2030-01-01", seed=CATALOGUE_SEED)
    keys = [
        live.upload("songs/a_songs.csv", csvs(data, "songs")[0]),
        live.upload("users/a_users.csv", csvs(data, "users")[0]),
        live.upload("streams/a_streams.csv", csvs(data, "streams")[0]),
    ]
    return data, keys, live.wait(keys)


def test_upload_runs_the_pipeline_end_to_end(live, first_batch):
    data, file_ids, runs = first_batch
    keys = [f.split("/", 3)[-1].split("#")[0] for f in file_ids]
    assert runs and {r["state"] for r in runs} == {"success"}
    for run in runs:  # started by the Lambda (conf) through the MWAA API, ended at success_end
        assert run["conf"]["batch_id"] == run["dag_run_id"]
        assert run["conf"]["batch_id"].startswith(f"batch-{live['raw_data_bucket']}-")
        states = live.task_states(run)
        assert states["success_end"][0] == "success"
        assert states["validation_failed_end"][0] == "skipped"

    items = {i["key"]: i for i in (live.ledger.get(f) for f in file_ids)}
    parquet = live.keys("processed_bucket", layout.PROCESSED_DATA_PREFIX)
    assert any(
        f"batch_id={items['streams/a_streams.csv']['batch_id']}/genre=" in k
        and k.endswith(".parquet")
        for k in parquet
    )

    expected = expected_items(csvs(data, "streams"), csvs(data, "songs"), csvs(data, "users"))
    assert kpi_items_only(live.kpi_items(days("2030-01-01"))) == expected

    copies = {}
    for key in keys:
        item = items[key]
        copies[key] = layout.archive_key(
            item["dataset"], item["file_key"], key, item["uploaded_at"]
        )
        assert item["state"] == "ARCHIVED" and item["archived_to"].endswith("/" + copies[key])
    assert not set(keys) & set(live.keys("raw_data_bucket"))
    assert set(copies.values()) <= set(live.keys("archive_bucket"))


def test_reuploading_the_same_data_leaves_the_kpis_unchanged(live, first_batch):
    data, _keys, _runs = first_batch
    before = kpi_items_only(live.kpi_items(days("2030-01-01")))
    key = live.upload("streams/a_streams_again.csv", csvs(data, "streams")[0])
    [run] = live.wait([key])
    assert run["state"] == "success"
    assert kpi_items_only(live.kpi_items(days("2030-01-01"))) == before


def test_trace_joins_a_files_whole_path(live, first_batch):
    """scripts/trace: ledger, Lambda log, DAG run, Glue runs and outputs of one file, and the
    same batch by its id."""
    _data, file_ids, runs = first_batch
    traced = live.command("trace", "--json", "streams/a_streams.csv")
    assert traced.returncode == 0, traced.stderr
    result = json.loads(traced.stdout)
    [version] = result["files"]
    assert version["file_id"] == file_ids[2] and version["state"] == "ARCHIVED"
    [run] = [r for r in runs if r["dag_run_id"] == version["batch_id"]]
    # every step of the main path, in order (file_ledger.PATH), after the upload was recorded
    assert [h["state"] for h in version["history"]] == [file_ledger.RECEIVED, *file_ledger.PATH]
    invocation = version["lambda"]
    assert invocation["function_name"] == config.LAMBDA_FUNCTION_NAME
    assert any("recorded s3://" in line and "a_streams.csv" in line for line in invocation["lines"])
    assert invocation["lines"][-1].startswith(f"REPORT RequestId: {invocation['aws_request_id']}")
    assert version["processed_to"].endswith(f"batch_id={run['dag_run_id']}/")
    assert version["archived_to"] == version["archive_copy"]
    [batch] = result["batches"]
    assert batch["dag_run"]["state"] == "success"
    assert batch["dag_run"]["url"].endswith(f"/runs/{run['dag_run_id']}")
    assert [(g["task_type"], g["state"]) for g in batch["glue_runs"]] == [
        ("validation", "SUCCEEDED"),
        ("full_etl", "SUCCEEDED"),
        ("dynamodb_only", "SUCCEEDED"),
        ("archiving_only", "SUCCEEDED"),
    ]
    stored = live.kpi_items(days("2030-01-01"))
    assert batch["etl"]["kpi_items"] == sum(i["kpi"] != kpi_snapshot.SNAPSHOT_KIND for i in stored)
    assert batch["etl"]["files"][file_ids[2]]["rows"] > 0

    by_batch = live.command("trace", run["dag_run_id"])
    assert by_batch.returncode == 0, by_batch.stderr
    for text in ("a_streams.csv", "Glue full_etl", "ARCHIVED", batch["dag_run"]["url"]):
        assert text in by_batch.stdout

    unknown = live.command("trace", "streams/never_uploaded.csv")
    assert unknown.returncode == 1 and "know nothing of it" in unknown.stdout


def test_query_runs_sql_over_the_catalog_tables_the_etl_job_registers(live, first_batch):
    """Every Parquet file the ETL job wrote lies in a partition it registered, and SQL over the
    catalog's tables (through the local Athena API) counts each day and genre's plays as the KPIs
    in DynamoDB do (the re-upload of the same events counts once)."""
    partitions = live.glue_call(
        "GetPartitions", {"DatabaseName": catalog.DATABASE, "TableName": "streams"}
    )["Partitions"]
    registered = {p["StorageDescriptor"]["Location"] for p in partitions}
    processed = live["processed_bucket"]
    for key in live.keys("processed_bucket", layout.PROCESSED_DATA_PREFIX):
        if key.endswith(".parquet"):
            assert layout.s3_url(processed, catalog.partition_prefix("streams", key)) in registered

    # the genre of each play from the songs table (a stream row keeps the genre of the
    # reference it was written with; the KPIs join the current one)
    sql = """
        WITH song AS (SELECT track_id, min(genre) AS genre FROM songs GROUP BY track_id),
        plays AS (
            SELECT DISTINCT user_id, track_id, listen_time, listen_date FROM streams
            WHERE listen_date BETWEEN DATE '2030-01-01' AND DATE '2030-01-02')
        SELECT CAST(listen_date AS VARCHAR) AS day, genre, count(*) AS plays
        FROM plays JOIN song USING (track_id) GROUP BY 1, 2"""
    result = live.command("query", "--format", "json", "--max-rows", "100000", sql)
    assert result.returncode == 0, result.stderr
    plays = {
        (r["day"], r["genre"]): r["plays"] for r in map(json.loads, result.stdout.splitlines())
    }
    kpis = {
        (i["date"], i["genre"]): int(i["listen_count"])
        for i in live.kpi_items(days("2030-01-01"))
        if i["sk"] == "METRIC#DAILY"
    }
    assert plays and plays == kpis

    tables = live.command("query", "--tables")
    assert tables.returncode == 0 and f"{catalog.DATABASE}.songs  (" in tables.stdout
    bad = live.command("query", "SELECT * FROM no_such_table")
    assert bad.returncode == 1 and "no_such_table" in bad.stderr and "Traceback" not in bad.stderr


def test_spark_ui_lists_each_etl_run_under_its_glue_run_id(live, first_batch):
    """The local Glue API honours --enable-spark-ui / --spark-event-logs-path; scripts/spark-ui
    serves the event logs on loopback, each run under its Glue run id, with its Spark jobs."""
    runs = live.glue_call("GetJobRuns", {"JobName": live["etl_job_name"]})["JobRuns"]
    full_etl = {r["Id"] for r in runs if r["Arguments"].get("--task_type") == "full_etl"}
    assert full_etl and all(r["Arguments"]["--enable-spark-ui"] == "true" for r in runs)
    port = free_port()
    server = subprocess.Popen(
        [str(paths.ROOT / "scripts" / "spark-ui"), "--port", str(port)],
        env={**os.environ, **live.cfg.to_env()},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().startswith(f"Spark UI at http://127.0.0.1:{port} ")
        url = f"http://127.0.0.1:{port}/api/v1/applications"
        deadline = time.monotonic() + 60
        while True:  # the server lists logs as it parses them
            apps = {a["name"]: a for a in json.load(urllib.request.urlopen(url, timeout=10))}
            if full_etl <= set(apps) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert full_etl <= set(apps)
        app = apps[sorted(full_etl)[0]]
        assert app["attempts"][0]["completed"]
        jobs = json.load(urllib.request.urlopen(f"{url}/{app['id']}/jobs", timeout=10))
        assert jobs and {j["status"] for j in jobs} == {"SUCCEEDED"}
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
    with pytest.raises(OSError):  # the history server went with the command
        socket.create_connection(("127.0.0.1", port), timeout=2)


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium, installed when missing (as root, like the Compose test's engine)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("no chromium, and no root apt-get to install Debian's package")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("chromium")


class RenderedPage(HTMLParser):
    """Of a DOM after its scripts ran: each element's data-drawn by id, the KPI cells' text."""

    def __init__(self, dom: str):
        super().__init__()
        self.drawn, self.cells, self.body, self._cell = {}, {}, {}, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-drawn" in a:
            self.drawn[a["id"]] = int(a["data-drawn"])
        if tag == "body":
            self.body = a
        if tag == "td" and "data-kpi" in a:
            self._cell = (
                a["data-kpi"],
                a.get("data-genre") or a.get("data-date"),
                a.get("data-rank"),
            )

    def handle_data(self, data):
        if self._cell:
            self.cells[self._cell] = int(data.replace(",", ""))
            self._cell = None


def test_report_renders_in_chromium_with_charts_and_the_numbers_of_dynamodb(
    live, first_batch, chromium, tmp_path
):
    page = tmp_path / "report.html"
    day = "2030-01-01"
    made = live.command("report", "--out", str(page), "--date", day)
    assert made.returncode == 0, made.stderr
    browser = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert browser.returncode == 0, browser.stderr[-2000:]
    assert "Uncaught" not in browser.stderr  # the page's script ran without an error
    rendered = RenderedPage(browser.stdout)
    assert rendered.body.get("data-charts") == "drawn"

    items = live.kpi_items()
    genre_daily = [i for i in items if i.get("kpi") == "genre_daily"]
    top_genres = [i for i in items if i.get("kpi") == "top_genre"]
    top_songs = [i for i in items if i.get("kpi") == "top_song" and i["date"] == day]
    quality = [i for i in items if i.get("kpi") == "quality"]
    assert rendered.drawn["top-genres-charts"] == len(top_genres)  # one bar per ranked genre
    assert rendered.drawn["trend-chart"] == min(8, len({i["genre"] for i in genre_daily}))
    assert rendered.drawn["states-chart"] == len(file_ledger.STATES)
    assert rendered.drawn["quality-chart"] >= len(quality)
    for item in genre_daily:
        if item["date"] == day:
            assert rendered.cells[("listen_count", item["genre"], None)] == item["listen_count"]
            assert (
                rendered.cells[("unique_listeners", item["genre"], None)]
                == (item["unique_listeners"])
            )
    for song in top_songs:
        key = ("play_count", song["genre"], str(song["rank"]))
        assert rendered.cells[key] == song["play_count"]
    for q in quality:
        assert rendered.cells[("streams", q["date"], None)] == q["streams"]


def test_the_aws_cli_reaches_every_service_after_stack_env(live):
    """`eval "$(scripts/stack-env)"` then the real AWS CLI: Glue is the local Glue API (not the
    emulator's empty one) and MWAA's InvokeRestApi reaches Airflow (no env. host prefix)."""
    exports = live.command("stack-env")
    assert exports.returncode == 0, exports.stderr
    env = dict(os.environ)
    for line in exports.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value

    def aws(*argv: str) -> dict:
        done = subprocess.run(
            [str(paths.ROOT / ".venv-awscli" / "bin" / "aws"), *argv, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    jobs = {j["Name"] for j in aws("glue", "get-jobs")["Jobs"]}
    assert {live["validation_job_name"], live["etl_job_name"]} <= jobs
    reply = aws(
        "mwaa", "invoke-rest-api", "--name", config.MWAA_ENVIRONMENT_NAME,
        "--path", "/dags", "--method", "GET",
    )  # fmt: skip
    assert reply["RestApiStatusCode"] == 200
    dags = {d["dag_id"] for d in reply["RestApiResponse"]["dags"]}
    assert {config.REALTIME_DAG_ID, config.DAILY_DAG_ID} <= dags
    tables = aws("dynamodb", "list-tables")["TableNames"]
    assert live["dynamodb_table_name"] in tables


def test_bad_file_ends_at_validation_failed_end_and_is_quarantined(live, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,listen_time\nu1,2031-01-01 10:00:00\n")
    before = live.kpi_items()
    key = live.upload("streams/bad_file.csv", bad)
    [run] = live.wait([key])
    states = live.task_states(run)
    assert states["validation_failed_end"][0] == "success"
    assert states["realtime_etl_processing"][0] == "skipped"
    assert states["success_end"][0] == "skipped"

    report = json.loads(
        live.s3.get_object(
            Bucket=live["processed_bucket"], Key=layout.validation_report_key(run["dag_run_id"])
        )["Body"].read()
    )
    assert report["status"] == "invalid" and report["invalid_files"] == ["streams/bad_file.csv"]
    item = live.ledger.get(key)
    assert item["state"] == "QUARANTINED" and "track_id" in item["errors"][0]
    quarantined = layout.quarantine_key(run["dag_run_id"], item["key"], item["version_id"])
    assert quarantined in live.keys("quarantine_bucket")
    assert item["key"] not in live.keys("raw_data_bucket")
    assert sorted(map(str, live.kpi_items())) == sorted(map(str, before))
    traced = live.command("trace", "streams/bad_file.csv")
    assert traced.returncode == 0, traced.stderr
    assert "QUARANTINED" in traced.stdout and item["errors"][0] in traced.stdout
    assert f"s3://{live['quarantine_bucket']}/{quarantined}" in traced.stdout


def test_two_files_of_the_same_days_give_the_kpis_of_their_union(live, first_batch, tmp_path):
    catalogue = first_batch[0]  # already in the stack
    data = generate(tmp_path, "2032-03-01", seed=CATALOGUE_SEED, streams=3000, files=2)
    streams = csvs(data, "streams")
    keys = [
        live.upload("streams/b_part1.csv", streams[0]),
        live.upload("streams/b_part2.csv", streams[1]),
    ]
    assert {r["state"] for r in live.wait(keys)} == {"success"}
    expected = expected_items(streams, csvs(catalogue, "songs"), csvs(catalogue, "users"))
    assert kpi_items_only(live.kpi_items(days("2032-03-01"))) == expected


def test_failed_glue_run_is_retried_by_airflow(live, first_batch, tmp_path):
    catalogue = first_batch[0]
    data = generate(tmp_path, "2033-05-01", seed=CATALOGUE_SEED)
    live.fail_next_glue_runs(str(config.VARIABLE_DEFAULTS["etl_job_name"]))
    key = live.upload("streams/c_streams.csv", csvs(data, "streams")[0])
    [run] = live.wait([key])
    assert run["state"] == "success"
    state, tries = live.task_states(run)["realtime_etl_processing"]
    assert state == "success" and tries == 2
    expected = expected_items(
        csvs(data, "streams"), csvs(catalogue, "songs"), csvs(catalogue, "users")
    )
    assert kpi_items_only(live.kpi_items(days("2033-05-01"))) == expected


def test_invoke_rest_api_acts_with_the_user_role_not_admin(live):
    """The trigger Lambda's grant in the template (airflow:InvokeRestApi on role/{env}/User), held
    by a session of the emulator's STS, maps to Airflow's User role as MWAA maps it: trigger and
    read DAG runs, nothing more."""
    mwaa = live.cfg.client("mwaa", live.session_with(lambda_invoke_rest_api_grant()))
    name = config.MWAA_ENVIRONMENT_NAME
    dags = mwaa.invoke_rest_api(Name=name, Path="/dags", Method="GET")
    assert dags["RestApiStatusCode"] == 200
    assert config.REALTIME_DAG_ID in {d["dag_id"] for d in dags["RestApiResponse"]["dags"]}
    with pytest.raises(mwaa.exceptions.RestApiClientException) as refused:
        mwaa.invoke_rest_api(
            Name=name, Path="/variables", Method="POST", Body={"key": "x", "value": "y"}
        )
    assert refused.value.response["RestApiStatusCode"] == 403
    with pytest.raises(mwaa.exceptions.RestApiClientException) as refused:
        mwaa.invoke_rest_api(Name=name, Path="/connections", Method="GET")
    assert refused.value.response["RestApiStatusCode"] == 403


def test_the_providers_example_mwaa_passes_all_its_tasks(live, tmp_path):
    """The provider's ``example_mwaa`` unchanged against the stack's MWAA environment: it triggers
    the sweeper DAG and waits on it through InvokeRestApi (as the root: Admin), and its IAM
    fallback assumes a role granted only CreateWebLoginToken (on Viewer), gets MWAA's "No Airflow
    role granted in IAM.", logs in over HTTPS at /pluginsv2/aws_mwaa/login and lists the DAGs."""
    environment = config.MWAA_ENVIRONMENT_NAME
    restricted = live.session_role_arn(
        {
            "Effect": "Allow",
            "Action": "airflow:CreateWebLoginToken",
            "Resource": f"arn:aws:airflow:{config.DEFAULT_REGION}:{emulator.LOCAL_ACCOUNT}:"
            f"role/{environment}/Viewer",
        }
    )
    env = system_tests.environment(
        live.cfg,
        tmp_path / "airflow",
        dict(os.environ),
        ENVIRONMENT_NAME=environment,
        DAG_ID=config.SWEEPER_DAG_ID,
        TASK_ID="sweep_stranded_files",
        ROLE_WITHOUT_INVOKE_REST_API_ARN=restricted,
        REQUESTS_CA_BUNDLE=str(local_tls.files(live.cfg.tls_dir).ca),
    )
    # dag.test() runs one task at a time: trigger_dag_run may wait on the sweeper's run before
    # unpause_dag runs, so the DAG is active beforehand, as in the environment the test expects
    live.set_paused(config.SWEEPER_DAG_ID, False)
    try:
        system_tests.passed(system_tests.run(env, "example_mwaa"))
    finally:
        live.pause_letting_runs_finish(config.SWEEPER_DAG_ID)


def lambda_invoke_rest_api_grant() -> dict:
    """The TriggerDagRole statement of infra/template.json that grants airflow:InvokeRestApi,
    resolved for the emulator as bootstrap loads it."""
    template = iam_roles.load_template()
    roles = iam_roles.role_documents(template, iam_roles.local_context(config.settings(), template))
    role = roles[emulator.LOCAL_ROLE_NAMES["TriggerDagRole"]]
    statements = [s for p in role["policies"].values() for s in p["Statement"]]
    (grant,) = [s for s in statements if s.get("Action") == "airflow:InvokeRestApi"]
    return grant


def test_daily_dag_processes_whatever_is_new(live, tmp_path):
    """With the realtime trigger detached, the daily DAG finds the new files itself, runs the
    same Glue jobs, and records them in processed_streams.json."""
    live.run_daily_dag_on_new_files()  # its run made at start-up has finished
    live.s3.put_bucket_notification_configuration(  # only the daily DAG sees these uploads
        Bucket=live["raw_data_bucket"], NotificationConfiguration={}
    )
    try:
        daily_run_over_new_files(live, tmp_path)
    finally:  # the realtime trigger and the paused schedule back, for the tests after this one
        assert bootstrap.ensure_notification(live.s3, live.cfg.client("lambda"), live.settings)
        live.pause_letting_runs_finish(config.DAILY_DAG_ID)


def daily_run_over_new_files(live, tmp_path):
    data = generate(tmp_path, "2034-07-01", seed=44)
    keys = [
        live.upload(f"{d}/daily_{d}.csv", next((data / d).glob("*.csv")))
        for d in ("songs", "users", "streams")
    ]

    run = airflow_api.trigger(live.airflow, config.DAILY_DAG_ID, "daily-finds-new-files", {})
    run = airflow_api.wait_for_run(live.airflow, config.DAILY_DAG_ID, run["dag_run_id"])
    states = {
        t["task_id"]: t["state"]
        for t in airflow_api.task_instances(live.airflow, config.DAILY_DAG_ID, run["dag_run_id"])
    }
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}, sorted(states.items())

    csvs = {d: sorted((data / d).glob("*.csv")) for d in ("streams", "songs", "users")}
    expected = expected_items(csvs["streams"], csvs["songs"], csvs["users"])
    assert kpi_items_only(live.kpi_items({"2034-07-01", "2034-07-02"})) == expected
    state = json.loads(
        live.s3.get_object(Bucket=live["processed_bucket"], Key=config.STATE_KEY)["Body"].read()
    )
    assert set(keys) <= set(state["processed"])  # file-ledger ids: key and version
    assert all(live.ledger.get(f)["state"] == "ARCHIVED" for f in keys)
    assert not {f.split("/", 3)[-1].split("#")[0] for f in keys} & set(live.keys("raw_data_bucket"))


# The stack's state as a whole. These run last in the module: the reset clears every test's data.
def table_items(live, table_name: str) -> list[dict]:
    items = aws.all_items(live.dynamodb.Table(table_name).scan)
    return sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=str))


def test_rebuild_kpis_restores_a_lost_kpi_table_from_s3(live):
    table = live["dynamodb_table_name"]
    before = table_items(live, table)
    assert any(i["sk"] == kpi_snapshot.SNAPSHOT_SK for i in before)
    stack_state.empty_table(live.dynamodb, table)  # as an emulator crash can lose it
    rebuilt = live.command("rebuild-kpis")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert table_items(live, table) == before

    day = "2030-01-01"
    doomed = [i for i in before if i.get("date") == day]
    with live.dynamodb.Table(table).batch_writer() as batch:
        for item in doomed:
            batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    one_day = live.command("rebuild-kpis", "--date", day)
    assert one_day.returncode == 0 and one_day.stdout.startswith(f"{day}  written")
    assert table_items(live, table) == before
    missing = live.command("rebuild-kpis", "--date", "1999-01-01")
    assert missing.returncode == 1 and "no KPI snapshot" in missing.stderr


def stack_state_now(live) -> dict:
    """What a snapshot must bring back, from each service's own API."""
    runs = {
        job: sorted(r["Id"] for r in live.glue_call("GetJobRuns", {"JobName": job})["JobRuns"])
        for job in (live["validation_job_name"], live["etl_job_name"])
    }
    return {
        "ledger": table_items(live, config.file_tracker_table(live["dynamodb_table_name"])),
        "kpis": table_items(live, live["dynamodb_table_name"]),
        "processed": live.keys("processed_bucket"),
        "dag runs": sorted(r["dag_run_id"] for r in live.runs()),
        "glue runs": runs,
        "partitions": len(
            live.glue_call(
                "GetPartitions", {"DatabaseName": catalog.DATABASE, "TableName": "streams"}
            )["Partitions"]
        ),
    }


def test_a_snapshot_brings_back_s3_dynamodb_airflow_and_glue_together(live):
    before = stack_state_now(live)
    saved = live.command("snapshot", "save", "e2e", timeout=300)
    assert saved.returncode == 0, saved.stderr
    assert stack_state_now(live) == before  # saving stops and restarts the stack, nothing else

    # every part changes (a reset empties them all) ...
    assert live.command("reset", "--yes").returncode == 0
    changed = stack_state_now(live)
    assert all(changed[part] != before[part] for part in before)
    # ... and comes back together
    loaded = live.command("snapshot", "load", "e2e", timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    assert stack_state_now(live) == before
    listed = live.command("snapshot", "list")
    assert listed.stdout.startswith("e2e  ")
    bad = live.command("snapshot", "load", "../etc")
    assert bad.returncode == 1 and "letters, digits" in bad.stderr


def test_reset_clears_data_and_runs_keeps_definitions_and_the_pipeline_runs_again(live, tmp_path):
    refused = live.command("reset")  # not a terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = live.command("reset", "--yes")
    assert done.returncode == 0, done.stderr
    for setting in stack_state.DATA_BUCKETS:
        versions = live.s3.list_object_versions(Bucket=live[setting])
        assert not versions.get("Versions") and not versions.get("DeleteMarkers"), setting
    emptied = stack_state_now(live)
    assert emptied == {
        "ledger": [],
        "kpis": [],
        "processed": [],
        "dag runs": [],
        "glue runs": {live["validation_job_name"]: [], live["etl_job_name"]: []},
        "partitions": 0,
    }
    jobs = {j["Name"] for j in live.glue_call("GetJobs", {})["Jobs"]}
    assert {live["validation_job_name"], live["etl_job_name"]} <= jobs
    tables = live.glue_call("GetTables", {"DatabaseName": catalog.DATABASE})["TableList"]
    assert {t["Name"] for t in tables} == set(catalog.TABLES)

    data = generate(tmp_path / "r", "2030-06-01", seed=43)
    keys = [
        live.upload("songs/r_songs.csv", csvs(data, "songs")[0]),
        live.upload("users/r_users.csv", csvs(data, "users")[0]),
        live.upload("streams/r_streams.csv", csvs(data, "streams")[0]),
    ]
    runs = live.wait(keys)
    assert {r["state"] for r in runs} == {"success"}
    expected = expected_items(csvs(data, "streams"), csvs(data, "songs"), csvs(data, "users"))
    assert kpi_items_only(live.kpi_items()) == expected  # only what came after the reset


def test_iam_check_finds_no_call_the_deployed_policies_would_deny(live, tmp_path):
    """Every call the Lambda, the Glue runs and Airflow's tasks made as their roles during this
    module's runs is allowed by the template's policies; a copy of the template without the
    Lambda's ledger write reports exactly those calls."""
    done = live.command("iam-check", "--json")
    findings = json.loads(done.stdout)
    assert {role: f["denied"] for role, f in findings.items()} == {
        role: [] for role in emulator.LOCAL_ROLE_NAMES.values()
    }
    lambda_role = emulator.LOCAL_ROLE_NAMES["TriggerDagRole"]
    assert all(findings[role]["calls"] > 0 for role in findings), findings

    template = json.loads((paths.ROOT / "infra" / "template.json").read_text())
    policy = template["Resources"]["TriggerDagRole"]["Properties"]["Policies"][0]
    for statement in policy["PolicyDocument"]["Statement"]:
        if isinstance(statement.get("Action"), list) and "dynamodb:PutItem" in statement["Action"]:
            statement["Action"].remove("dynamodb:PutItem")
    narrowed = tmp_path / "template.json"
    narrowed.write_text(json.dumps(template))
    done = live.command("iam-check", "--json", "--template", str(narrowed))
    assert done.returncode == 1
    denied = {
        role: {(d["action"], d["resource"]) for d in f["denied"]}
        for role, f in json.loads(done.stdout).items()
    }
    tracker = f"arn:aws:dynamodb:{config.DEFAULT_REGION}:{emulator.LOCAL_ACCOUNT}:table/" + (
        config.file_tracker_table(live["dynamodb_table_name"])
    )
    assert denied == {
        role: ({("dynamodb:PutItem", tracker)} if role == lambda_role else set())
        for role in emulator.LOCAL_ROLE_NAMES.values()
    }
