"""scripts/trace's own decisions: what a target names, and the text of what it found."""

import pytest

from devstack.tools import trace


@pytest.mark.parametrize(
    "target, expected",
    [
        ("streams/a.csv", ("raw", "streams/a.csv", None)),
        ("s3://other/songs/s.csv", ("other", "songs/s.csv", None)),
        ("s3://raw/streams/a b.csv#v-1", ("raw", "streams/a b.csv", "v-1")),
        ("a.CSV", ("raw", "a.CSV", None)),
    ],
)
def test_a_file_target_names_bucket_key_and_version(target, expected):
    assert trace.is_file_key(target)
    assert trace.parse_file_target(target, "raw") == expected


def test_a_batch_id_is_not_a_file_key():
    assert not trace.is_file_key("batch-raw-streams-a.csv-20240601T120000123Z")
    assert not trace.is_file_key("20240601-20240601T000000")


def test_nothing_found_says_so():
    text = trace.render({"target": "streams/x.csv", "files": [], "batches": []})
    assert text == "streams/x.csv: the file ledger, Airflow and Glue know nothing of it"


def test_a_timeline_shows_each_step_with_its_duration_and_the_glue_run_under_its_task():
    file = {
        "bucket": "raw",
        "key": "streams/a.csv",
        "version_id": "v1",
        "size": 10,
        "uploaded_at": "2024-06-01T12:00:00Z",
        "state": "QUARANTINED",
        "batch_id": "b1",
        "reason": None,
        "lambda": None,
        "history": [
            {"state": "RECEIVED", "at": "2024-06-01T12:00:01.000+00:00"},
            {"state": "CLAIMED", "at": "2024-06-01T12:00:03.500+00:00"},
            {"state": "QUARANTINED", "at": "2024-06-01T12:00:05.000+00:00"},
        ],
        "verdict": {
            "valid": False,
            "errors": ["missing column track_id"],
            "rows": 1,
            "bad_rows": 0,
        },
        "quarantined_to": "s3://q/b1/a.csv",
        "processed_to": None,
        "listen_dates": None,
        "rejected_rows": None,
        "archived_to": None,
        "archive_copy": None,
    }
    batch = {
        "batch_id": "b1",
        "dag_run": {
            "dag_id": "d",
            "run_id": "b1",
            "state": "success",
            "seconds": 9.0,
            "url": "http://ui/dags/d/runs/b1",
            "tasks": [
                {
                    "task_id": "validate",
                    "state": "success",
                    "try_number": 2,
                    "seconds": 3.0,
                    "start": "2024-06-01T12:00:03.000+00:00",
                },
                {
                    "task_id": "end",
                    "state": "success",
                    "try_number": 1,
                    "seconds": 0.1,
                    "start": "2024-06-01T12:00:06.000+00:00",
                },
                {
                    "task_id": "etl",
                    "state": "skipped",
                    "try_number": 1,
                    "seconds": None,
                    "start": None,
                },
            ],
        },
        "glue_runs": [
            {
                "task_type": "validation",
                "id": "jr_1",
                "state": "SUCCEEDED",
                "seconds": 1,
                "log_stream": "/aws-glue/jobs/output/jr_1",
                "error": None,
                "start": "2024-06-01T12:00:04.000+00:00",
                "spark_ui": None,
            },
            {
                "task_type": "full_etl",
                "id": "jr_2",
                "state": "SUCCEEDED",
                "seconds": 9,
                "log_stream": "/aws-glue/jobs/output/jr_2",
                "error": None,
                "start": "2024-06-01T12:00:06.000+00:00",
                "spark_ui": "http://127.0.0.1:18080/history/local-1/jobs/",
            },
        ],
        "etl": None,
    }
    lines = trace.render({"target": "streams/a.csv", "files": [file], "batches": [batch]}).split(
        "\n"
    )
    assert lines[0].startswith("s3://raw/streams/a.csv version v1, 10 bytes")
    assert "found by the raw-bucket sweep" in lines[1]
    assert "CLAIMED +2.5s" in lines[2]
    assert (
        "QUARANTINED +1.5s" in lines[3]
        and "missing column track_id; to s3://q/b1/a.csv" in lines[3]
    )
    run_line = lines.index("DAG run d / b1: success in 9.0 s  http://ui/dags/d/runs/b1")
    assert "validate" in lines[run_line + 1] and "(try 2)" in lines[run_line + 1]
    assert "Glue validation" in lines[run_line + 2] and "jr_1 SUCCEEDED" in lines[run_line + 2]
    assert "end" in lines[run_line + 3]
    assert lines[run_line + 4].endswith(", Spark UI http://127.0.0.1:18080/history/local-1/jobs/")
    assert "Spark UI" not in lines[run_line + 2]  # a Python shell run has none
    assert not any("skipped" in line for line in lines[run_line:])  # skipped tasks are left out
