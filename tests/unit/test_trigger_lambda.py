"""The Lambda handler with a fake MWAA client (unit level; the stack tests use the real path)."""

import base64
import io
import json
import types

import lambda_function as handler
import pytest
from lambda_fakes import FakeLedger, FakeMwaa, patch_lambda_clients


def s3_record(key, bucket="raw-bucket", event_time="2024-06-01T12:00:00.123Z", version="v1"):
    return {
        "eventTime": event_time,
        "s3": {
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "versionId": version,
                "eTag": "abc",
                "size": 10,
                "sequencer": "0A",
            },
        },
    }


@pytest.fixture
def ledger(monkeypatch):
    fake = FakeLedger()
    patch_lambda_clients(monkeypatch, handler, fake)
    return fake


@pytest.fixture
def mwaa(monkeypatch, ledger):
    fake = FakeMwaa()
    monkeypatch.setattr(handler, "mwaa_client", lambda region: fake)
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", "env")
    monkeypatch.setenv("DAG_ID", "music_streaming_realtime_pipeline")
    monkeypatch.delenv("TRIGGER_METHOD", raising=False)
    return fake


def test_batch_id_is_safe_and_deterministic():
    batch_id = handler.batch_id_for("raw", "streams/June 2024/a+b.csv", "20240601T120000123Z")
    assert batch_id == "batch-raw-streams-June-2024-a+b.csv-20240601T120000123Z"
    assert len(handler.batch_id_for("raw", "streams/" + "x" * 400 + ".csv", "T")) == 250


def test_uploads_are_recorded_and_one_run_claims_them(mwaa, ledger):
    event = {
        "Records": [
            s3_record("streams/day+1%C3%A9.csv"),
            s3_record("songs/s.CSV"),
            s3_record("users/readme.txt"),
            s3_record("other/x.csv"),
            s3_record("streams/x.csv.gz"),
        ]
    }
    outcome = handler.lambda_handler(event, None)
    assert outcome["ignored"] == ["users/readme.txt", "other/x.csv", "streams/x.csv.gz"]
    assert outcome["received"] == ["streams/day 1é.csv", "songs/s.CSV"]
    states = {k.split("#")[0]: v for k, v in ledger.items.items()}
    assert states["s3://raw-bucket/streams/x.csv.gz"] == {
        "state": "IGNORED",
        "reason": "compressed: upload the CSV uncompressed",
    }
    assert states["s3://raw-bucket/songs/s.CSV"]["state"] == "RECEIVED"
    [call] = mwaa.calls  # one run for the whole event
    assert call["Path"] == "/dags/music_streaming_realtime_pipeline/dagRuns"
    assert call["Method"] == "POST" and call["Name"] == "env"
    conf = call["Body"]["conf"]
    assert conf["keys"] == ["streams/day 1é.csv", "songs/s.CSV"]
    assert conf["files"] == [
        "s3://raw-bucket/streams/day 1é.csv#v1",
        "s3://raw-bucket/songs/s.CSV#v1",
    ]
    assert call["Body"]["dag_run_id"] == conf["batch_id"]
    assert call["Body"]["logical_date"] is None


def test_each_upload_names_the_invocation_that_recorded_it(mwaa, ledger):
    context = types.SimpleNamespace(
        function_name="trigger_dag_lambda",
        aws_request_id="req-1",
        log_group_name="/aws/lambda/trigger_dag_lambda",
        log_stream_name="2024/06/01/[$LATEST]abc",
    )
    handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, context)
    [item] = ledger.items.values()
    assert item["recorded_by"] == {
        "function_name": "trigger_dag_lambda",
        "aws_request_id": "req-1",
        "log_group_name": "/aws/lambda/trigger_dag_lambda",
        "log_stream_name": "2024/06/01/[$LATEST]abc",
    }


def test_no_second_run_while_one_is_waiting(mwaa, ledger):
    assert (
        handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)["run"]
        == "triggered"
    )
    outcome = handler.lambda_handler({"Records": [s3_record("streams/b.csv")]}, None)
    assert outcome["run"] == "waiting" and len(mwaa.calls) == 1
    ledger.flag = None  # the waiting run started claiming: the next upload triggers again
    assert (
        handler.lambda_handler({"Records": [s3_record("streams/c.csv")]}, None)["run"]
        == "triggered"
    )


def test_retry_of_the_same_event_starts_no_second_run_nor_takes_the_flag(mwaa, ledger):
    event = {"Records": [s3_record("streams/a.csv")]}
    assert handler.lambda_handler(event, None)["run"] == "triggered"
    ledger.flag = None  # the run claimed and released it
    again = handler.lambda_handler(event, None)
    assert again["run"] is None and again["already_recorded"] == ["streams/a.csv"]
    assert ledger.flag is None, "a duplicate event must not take the run flag"
    assert len(mwaa.calls) == 1


def test_failed_trigger_releases_the_flag_and_raises(mwaa, ledger, caplog):
    failing = handler.batch_id_for("raw-bucket", "streams/a.csv", "20240601T120000123Z")
    mwaa.statuses[failing] = 403
    with pytest.raises(handler.TriggerError, match=failing):
        handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
    assert ledger.flag is None, "a failed trigger must not block the next one"
    assert list(ledger.items.values()) == [{"state": "RECEIVED", "reason": None}]
    assert f"batch_id={failing}" in caplog.text


def test_test_event_without_records(mwaa):
    assert handler.lambda_handler({"Event": "s3:TestEvent"}, None)["run"] is None
    assert mwaa.calls == []


def test_cli_path(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "cli")
    requests = []

    def fake_urlopen(request, timeout):
        requests.append(request)
        command = request.data.decode()
        stdout = f"Created <DagRun {command.split()[3]} ...>".encode()
        return io.BytesIO(
            json.dumps({"stdout": base64.b64encode(stdout).decode(), "stderr": ""}).encode()
        )

    monkeypatch.setattr(handler.urllib.request, "urlopen", fake_urlopen)
    outcome = handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
    assert outcome["run"] == "triggered"
    [request] = requests
    assert request.full_url == "https://mwaa.example/aws_mwaa/cli"
    assert request.headers["Authorization"] == "Bearer token"
    assert request.data.decode().startswith("dags trigger -r batch-raw-bucket-streams-a.csv-")


def test_cli_path_reports_duplicate(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "cli")
    stderr = base64.b64encode(b"DagRun with run_id ... already exists").decode()
    monkeypatch.setattr(
        handler.urllib.request,
        "urlopen",
        lambda request, timeout: io.BytesIO(json.dumps({"stdout": "", "stderr": stderr}).encode()),
    )
    outcome = handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
    assert outcome["run"] == "duplicate"


def test_unknown_trigger_method(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "carrier-pigeon")
    with pytest.raises(ValueError):
        handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
