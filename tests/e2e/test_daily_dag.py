"""The daily DAG ``music_streaming_pipeline`` on the local stack: with the realtime trigger
detached, it finds the new files itself, runs the same Glue jobs, and records them in
processed_streams.json."""

from __future__ import annotations

import json

import pytest
from live_stack import generate

from devstack.core import airflow_api
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from music_streaming import config

pytestmark = pytest.mark.e2e


def test_daily_dag_processes_whatever_is_new(live, tmp_path):
    live.set_paused(config.DAILY_DAG_ID, False)  # its run made at start-up has finished
    live.s3.put_bucket_notification_configuration(  # only the daily DAG sees these uploads
        Bucket=live["raw_data_bucket"], NotificationConfiguration={}
    )
    status, _ = live.airflow.call(
        "PATCH",
        "/variables/daily_min_file_age_minutes",
        None,
        {"key": "daily_min_file_age_minutes", "value": "0"},
    )
    assert status == 200
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
