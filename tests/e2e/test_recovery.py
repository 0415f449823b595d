"""Nothing waits for a person, proven on the real local stack: keys Hadoop would misread in a batch
of valid files, a DAG run deleted mid-way, a run that fails for good, an S3 event delivered twice
and a trigger that died holding the run flag. Every test ends with "every file ARCHIVED, KPIs
equal to the independent computation", and only the sweeper (its scheduled DAG, run here on
demand) acting between the fault and the end."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from live_stack import generate
from test_exactly_once import assert_nothing_lost, csvs, days_from

from devstack.core import airflow_api
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from music_streaming import config
from music_streaming import ledger as file_ledger

pytestmark = pytest.mark.e2e
SEED = 61
# One key of each class that Hadoop reads as a path or a pattern, or that URL decoding changes.
ODD_STREAM_KEYS = [
    "streams/odd/plus+sign.csv",
    "streams/odd/percent%41.csv",
    "streams/odd/with space.csv",
    "streams/odd/[brackets]{braces}.csv",
    "streams/odd/star*question?.csv",
    "streams/../escape.csv",
    "streams//double-slash.csv",
    "streams/odd/ümlaut-日本.csv",
    "streams/odd/" + "k" * 980 + ".csv",
]


@pytest.fixture(scope="module")
def odd_batch(live, tmp_path_factory) -> tuple[Path, list[str]]:
    """The catalogue (under odd keys too) and one stream file per odd key, uploaded together."""
    data = generate(
        tmp_path_factory.mktemp("odd"), "2050-01-01", seed=SEED, files=len(ODD_STREAM_KEYS)
    )
    uploads = [
        ("songs/cat [1]+.csv", csvs(data, "songs")[0]),
        ("users/üsers %.csv", csvs(data, "users")[0]),
        *zip(ODD_STREAM_KEYS, csvs(data, "streams")),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda u: live.upload(*u), uploads))
    live.wait(ids, timeout=900)
    return data, ids


def test_any_key_s3_accepts_is_read_literally_in_a_batch_of_valid_files(live, odd_batch):
    data, ids = odd_batch
    items = assert_nothing_lost(live, ids)
    assert {i["key"] for i in items} >= set(ODD_STREAM_KEYS)
    streams = [i for i in items if i["dataset"] == "streams"]
    assert all(int(i["row_count"]) > 0 and int(i["rejected_rows"]) == 0 for i in streams)
    expected = expected_items(csvs(data, "streams"), csvs(data, "songs"), csvs(data, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2050-01-01"))) == expected


def test_a_deleted_run_a_twice_delivered_event_and_a_dead_trigger_are_mended_by_one_sweep(
    live, odd_batch, tmp_path
):
    catalogue, _ = odd_batch
    data = generate(tmp_path, "2051-01-01", seed=SEED, files=5)
    streams = csvs(data, "streams")
    stranded = [live.upload(f"streams/stranded/{p.name}", p) for p in streams[:3]]
    [held] = live.wait_for_states(stranded[:1], file_ledger.HELD)
    run_id = held["claimed_by_run"]
    live.wait_for_states(stranded, (file_ledger.VALIDATED,), timeout=300)
    live.delete_run(config.REALTIME_DAG_ID, run_id)  # as an operator stopping a stuck run

    # a trigger that died after taking the flag, five minutes ago (its run never came)
    live.ledger.table.put_item(
        Item={
            "file_key": file_ledger.RUN_REQUEST_ID,
            "run_id": "batch-died",
            "requested_epoch": int(time.time() - 300),
            "requested_at": "earlier",
        }
    )
    fresh = [live.upload(f"streams/fresh/{p.name}", p) for p in streams[3:]]
    live.wait_for_states(fresh, (file_ledger.RECEIVED,))
    # S3 delivers an event again: recorded already, it must not take the flag or start a run
    bucket, key = live["raw_data_bucket"], f"streams/fresh/{streams[3].name}"
    version = live.ledger.get(fresh[0])["version_id"]
    reply = live.cfg.client("lambda").invoke(
        FunctionName=config.LAMBDA_FUNCTION_NAME,
        Payload=json.dumps(s3_event(bucket, key, version)).encode(),
    )
    result = json.loads(reply["Payload"].read())
    assert result["run"] is None and result["already_recorded"] == [key], result
    time.sleep(5)  # nothing started them: the flag is held by the dead trigger
    assert {live.ledger.get(f)["state"] for f in fresh} == {file_ledger.RECEIVED}

    live.sweep()
    released = [live.ledger.get(f) for f in stranded]
    assert all(
        i["attempts"] == 1 and "no longer exists" in i["failures"][0]["reason"] for i in released
    )
    live.wait(stranded + fresh, timeout=900)
    items = assert_nothing_lost(live, stranded + fresh)
    assert len({i["batch_id"] for i in items}) <= 2  # not halved: a deleted run blames no file
    expected = expected_items(streams, csvs(catalogue, "songs"), csvs(catalogue, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2051-01-01"))) == expected
    assert live.ledger.run_request() is None


def test_a_run_that_fails_for_good_is_taken_back_and_its_file_processed(live, odd_batch, tmp_path):
    catalogue, _ = odd_batch
    data = generate(tmp_path, "2052-01-01", seed=SEED)
    # full_etl fails on every try Airflow gives it (1 + 2 retries): the run fails
    live.fail_next_glue_runs(str(live["etl_job_name"]), count=3)
    [file_id] = [live.upload("streams/unlucky.csv", p) for p in csvs(data, "streams")]
    [held] = live.wait_for_states([file_id], file_ledger.HELD)
    run = airflow_api.wait_for_run(
        live.airflow, config.REALTIME_DAG_ID, held["claimed_by_run"], timeout=600
    )
    assert run["state"] == "failed"
    assert live.ledger.get(file_id)["state"] == file_ledger.VALIDATED  # stranded

    live.sweep()
    item = live.ledger.get(file_id)
    assert item["attempts"] == 1 and item["failures"][0]["step"] == "full_etl"
    assert "ended failed" in item["failures"][0]["reason"]
    live.wait([file_id], timeout=600)
    assert_nothing_lost(live, [file_id])
    expected = expected_items(
        csvs(data, "streams"), csvs(catalogue, "songs"), csvs(catalogue, "users")
    )
    assert kpi_items_only(live.kpi_items(days_from("2052-01-01"))) == expected


def s3_event(bucket: str, key: str, version: str) -> dict:
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2051-01-01T00:00:00.000Z",
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {
                        "key": quote_plus(key),
                        "versionId": version,
                        "eTag": "x",
                        "size": 1,
                    },
                },
            }
        ]
    }


def test_a_2_kb_genre_and_a_500_kb_header_are_quarantined_with_reasons_beside_a_valid_file(
    live, odd_batch, tmp_path
):
    catalogue, _ = odd_batch
    data = generate(tmp_path, "2053-01-01", seed=SEED)
    long_genre = tmp_path / "genre.csv"
    long_genre.write_text(
        "track_id,track_genre,track_name,artists\n" + f"t-long,{'g' * 2048},Song,Band\n"
    )
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["user_id", "track_id", "listen_time"] + ["x" * 100] * 5000) + "\n")
    ids = [
        live.upload("streams/valid.csv", csvs(data, "streams")[0]),
        live.upload("songs/long-genre.csv", long_genre),
        live.upload("streams/wide-header.csv", wide),
    ]
    live.wait(ids, timeout=600)
    valid, genre, header = (live.ledger.get(i) for i in ids)
    assert valid["state"] == file_ledger.ARCHIVED
    assert genre["state"] == header["state"] == file_ledger.QUARANTINED
    assert genre["bad_rows_by_reason"] == {"track_genre over 200 characters": 1}
    [error] = header["errors"]
    assert error.startswith("header line 1 is") and error.endswith("at most 16384")
    assert header["columns"] == []  # the ledger item stays small
    expected = expected_items(
        csvs(data, "streams"), csvs(catalogue, "songs"), csvs(catalogue, "users")
    )
    assert kpi_items_only(live.kpi_items(days_from("2053-01-01"))) == expected
