"""The Lambda handler with a fake MWAA client (unit level; the stack tests use the real path)."""
import base64
import io
import json

import pytest
from botocore.exceptions import ClientError

import lambda_function as handler


def s3_record(key, bucket="raw-bucket", event_time="2024-06-01T12:00:00.123Z"):
    return {"eventTime": event_time, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}


class FakeMwaa:
    def __init__(self, statuses=None):
        self.calls = []
        self.statuses = statuses or {}
        self.existing = set()

    def invoke_rest_api(self, **kwargs):
        self.calls.append(kwargs)
        run_id = kwargs["Body"]["dag_run_id"]
        status = self.statuses.get(run_id, 409 if run_id in self.existing else 200)
        self.existing.add(run_id)
        if status >= 400:
            raise ClientError({"Error": {"Code": "RestApiClientException", "Message": "x"},
                               "RestApiStatusCode": status,
                               "RestApiResponse": {"detail": "boom"}}, "InvokeRestApi")
        return {"RestApiStatusCode": status, "RestApiResponse": {"dag_run_id": run_id}}

    def create_cli_token(self, Name):
        return {"CliToken": "token", "WebServerHostname": "mwaa.example"}


@pytest.fixture
def mwaa(monkeypatch):
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


def test_every_record_triggers_its_own_run_with_decoded_key(mwaa):
    event = {"Records": [s3_record("streams/day+1%C3%A9.csv"), s3_record("songs/s.csv"),
                         s3_record("users/readme.txt"), s3_record("other/x.csv")]}
    outcome = handler.lambda_handler(event, None)
    assert outcome["ignored"] == ["users/readme.txt", "other/x.csv"]
    assert len(outcome["triggered"]) == 2
    first = mwaa.calls[0]
    assert first["Path"] == "/dags/music_streaming_realtime_pipeline/dagRuns"
    assert first["Method"] == "POST" and first["Name"] == "env"
    assert first["Body"]["conf"]["keys"] == ["streams/day 1é.csv"]
    assert first["Body"]["dag_run_id"] == first["Body"]["conf"]["batch_id"]
    assert first["Body"]["logical_date"] is None


def test_retry_of_the_same_event_starts_no_second_run(mwaa):
    event = {"Records": [s3_record("streams/a.csv")]}
    assert len(handler.lambda_handler(event, None)["triggered"]) == 1
    again = handler.lambda_handler(event, None)
    assert again["triggered"] == [] and len(again["duplicate"]) == 1


def test_failure_is_raised_after_trying_all_records(mwaa, caplog):
    failing = handler.batch_id_for("raw-bucket", "streams/a.csv", "20240601T120000123Z")
    mwaa.statuses[failing] = 403
    event = {"Records": [s3_record("streams/a.csv"), s3_record("songs/b.csv")]}
    with pytest.raises(handler.TriggerError, match=failing):
        handler.lambda_handler(event, None)
    assert len(mwaa.calls) == 2
    assert f"batch_id={failing}" in caplog.text


def test_test_event_without_records(mwaa):
    assert handler.lambda_handler({"Event": "s3:TestEvent"}, None)["triggered"] == []
    assert mwaa.calls == []


def test_cli_path(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "cli")
    requests = []

    def fake_urlopen(request, timeout):
        requests.append(request)
        command = request.data.decode()
        stdout = f"Created <DagRun {command.split()[3]} ...>".encode()
        return io.BytesIO(json.dumps({"stdout": base64.b64encode(stdout).decode(),
                                      "stderr": ""}).encode())

    monkeypatch.setattr(handler.urllib.request, "urlopen", fake_urlopen)
    outcome = handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
    assert len(outcome["triggered"]) == 1
    [request] = requests
    assert request.full_url == "https://mwaa.example/aws_mwaa/cli"
    assert request.headers["Authorization"] == "Bearer token"
    assert request.data.decode().startswith("dags trigger -r batch-raw-bucket-streams-a.csv-")


def test_cli_path_reports_duplicate(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "cli")
    stderr = base64.b64encode(b"DagRun with run_id ... already exists").decode()
    monkeypatch.setattr(handler.urllib.request, "urlopen", lambda request, timeout: io.BytesIO(
        json.dumps({"stdout": "", "stderr": stderr}).encode()))
    outcome = handler.lambda_handler({"Records": [s3_record("streams/a.csv")]}, None)
    assert len(outcome["duplicate"]) == 1


def test_unknown_trigger_method(mwaa, monkeypatch):
    monkeypatch.setenv("TRIGGER_METHOD", "carrier-pigeon")
    with pytest.raises(ValueError):
        handler.lambda_handler({"Records": []}, None)
