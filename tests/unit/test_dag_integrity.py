"""DAG integrity: both DAGs load, with the designs' task ids, edges, retries and schedules, and
without touching Variables at parse time."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from devstack.core import paths


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.models import Variable
    from airflow.sdk import Variable as SdkVariable

    def forbidden(*args, **kwargs):
        raise AssertionError("Variable read while parsing a DAG file")

    saved = (Variable.get, SdkVariable.get)
    Variable.get = SdkVariable.get = forbidden
    try:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=str(paths.DAGS_DIR))
    finally:
        Variable.get, SdkVariable.get = saved


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "music_streaming_realtime_pipeline",
        "music_streaming_pipeline",
        "music_streaming_sweeper",
    }


def test_sweeper_dag_structure(dagbag):
    dag = dagbag.dags["music_streaming_sweeper"]
    assert dag.schedule == timedelta(minutes=5) and dag.max_active_runs == 1
    assert edges(dag) == {
        ("sweep_stranded_files", "files_waiting"),
        ("files_waiting", "start_realtime_run"),
    }
    assert dag.get_task("start_realtime_run").trigger_dag_id == "music_streaming_realtime_pipeline"


def test_pipeline_runs_time_out_and_glue_runs_stop_with_their_task(dagbag):
    for dag_id in ("music_streaming_realtime_pipeline", "music_streaming_pipeline"):
        dag = dagbag.dags[dag_id]
        assert dag.dagrun_timeout == timedelta(minutes=240), dag_id
        for task in dag.tasks:
            if type(task).__name__ == "GlueJobOperator":
                assert task.stop_job_run_on_kill is True, (dag_id, task.task_id)


def test_realtime_dag_structure(dagbag):
    dag = dagbag.dags["music_streaming_realtime_pipeline"]
    assert dag.schedule is None or str(dag.timetable.summary) in ("None",)
    assert dag.max_active_runs == 1 and dag.catchup is False
    design = {
        "start",
        "validate_data_quality",
        "check_validation_status",
        "realtime_etl_processing",
        "write_to_dynamodb",
        "archive_processed_files",
        "success_end",
        "validation_failed_end",
    }
    ledger_steps = {"claim_files", "no_pending_files_end", "more_files_waiting", "start_next_batch"}
    assert set(dag.task_ids) == design | ledger_steps
    assert edges(dag) == {
        ("start", "claim_files"),
        ("claim_files", "validate_data_quality"),
        ("claim_files", "no_pending_files_end"),
        ("validate_data_quality", "check_validation_status"),
        ("check_validation_status", "realtime_etl_processing"),
        ("check_validation_status", "validation_failed_end"),
        ("realtime_etl_processing", "write_to_dynamodb"),
        ("write_to_dynamodb", "archive_processed_files"),
        ("archive_processed_files", "success_end"),
        ("archive_processed_files", "more_files_waiting"),
        ("validation_failed_end", "more_files_waiting"),
        ("no_pending_files_end", "more_files_waiting"),
        ("more_files_waiting", "start_next_batch"),
    }
    # the next batch starts whatever happened, but success_end stays a leaf: a failure still
    # fails the run
    assert dag.get_task("more_files_waiting").trigger_rule == "all_done"
    assert not dag.get_task("success_end").downstream_task_ids


def test_realtime_dag_defaults(dagbag):
    dag = dagbag.dags["music_streaming_realtime_pipeline"]
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_delay == timedelta(minutes=5)
        assert task.on_failure_callback, f"{task.task_id} sends no failure notification"


def test_glue_tasks_use_the_provider_operator(dagbag):
    from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

    dag = dagbag.dags["music_streaming_realtime_pipeline"]
    glue = {t.task_id: t for t in dag.tasks if isinstance(t, GlueJobOperator)}
    assert set(glue) == {
        "validate_data_quality",
        "realtime_etl_processing",
        "write_to_dynamodb",
        "archive_processed_files",
    }
    assert {glue[t].script_args["--task_type"] for t in glue if t != "validate_data_quality"} == {
        "full_etl",
        "dynamodb_only",
        "archiving_only",
    }
    # names come from Variables at run time
    assert "var.value.get('etl_job_name'" in glue["realtime_etl_processing"].job_name


def test_daily_dag_structure(dagbag):
    dag = dagbag.dags["music_streaming_pipeline"]
    assert set(dag.task_ids) == {
        "validate_aws_connection",
        "cleanup_s3_scripts",
        "init_s3_structure",
        "verify_glue_scripts",
        "check_for_new_streams",
        "check_reference_data_updates",
        "prepare_data_for_processing",
        "run_glue_job.validation",
        "prepare_kpi_job",
        "run_glue_job.kpi",
        "prepare_dynamodb_job",
        "ensure_dynamodb_table",
        "run_glue_job.dynamodb",
        "archive_processed_data",
        "update_processed_files",
    }
    assert edges(dag) == {
        ("validate_aws_connection", "cleanup_s3_scripts"),
        ("cleanup_s3_scripts", "init_s3_structure"),
        ("init_s3_structure", "verify_glue_scripts"),
        ("verify_glue_scripts", "check_for_new_streams"),
        ("check_for_new_streams", "check_reference_data_updates"),
        ("check_reference_data_updates", "prepare_data_for_processing"),
        ("prepare_data_for_processing", "run_glue_job.validation"),
        ("run_glue_job.validation", "prepare_kpi_job"),
        ("prepare_kpi_job", "run_glue_job.kpi"),
        ("run_glue_job.kpi", "prepare_dynamodb_job"),
        ("verify_glue_scripts", "ensure_dynamodb_table"),
        ("ensure_dynamodb_table", "run_glue_job.dynamodb"),
        ("prepare_dynamodb_job", "run_glue_job.dynamodb"),
        ("run_glue_job.dynamodb", "archive_processed_data"),
        ("archive_processed_data", "update_processed_files"),
    }
    assert dag.get_task("validate_aws_connection").execution_timeout == timedelta(minutes=5)
    assert dag.get_task("validate_aws_connection").retries == 3
    assert {"music", "streaming", "etl"} <= set(dag.tags)


DAG_FILES = sorted(
    p for p in paths.DAGS_DIR.glob("*.py") if "DAG(" in p.read_text() and p.name != "__init__.py"
)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_each_dag_file_loads_alone_without_import_errors(dagbag, dag_file):
    """Astronomer-style: every file that defines a DAG parses on its own (after the folder's
    DagBag set up an Airflow home)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}, bag.import_errors
    assert bag.dags, f"{dag_file.name} defines no DAG"


def test_every_dag_has_tags_owner_retries_and_no_catchup(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.catchup is False, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "data-engineering-team", (dag.dag_id, task.task_id)
            # every task that does work is retried; the pure branching/marker tasks need not be
            if type(task).__name__ not in (
                "EmptyOperator",
                "BranchPythonOperator",
                "ShortCircuitOperator",
            ):
                assert task.retries >= 1, (dag.dag_id, task.task_id)


def test_batch_id_macro():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    import music_streaming_tasks as t

    moment = datetime(2024, 6, 1, 12, 30, 5, tzinfo=timezone.utc)
    manual = SimpleNamespace(conf={}, logical_date=None, run_after=moment)
    assert t.batch_id_for(manual) == "20240601-20240601T123005"
    assert t.processing_date_for(manual) == "2024-06-01"
    assert (
        t.batch_id_for(
            SimpleNamespace(conf={"batch_id": "b-1"}, logical_date=moment, run_after=moment)
        )
        == "b-1"
    )


def test_a_file_list_too_long_for_glues_arguments_goes_as_a_manifest(monkeypatch):
    import music_streaming_tasks as t

    written = {}

    class FakeHook:
        def __init__(self, **_):
            pass

        def load_string(self, text, key, bucket, replace):
            written[(bucket, key)] = text

    class FakeTi:
        def __init__(self):
            self.pushed = {}

        def xcom_push(self, key, value):
            self.pushed[key] = value

    monkeypatch.setattr(t, "S3Hook", FakeHook)
    few, many = FakeTi(), FakeTi()
    t.publish_claimed(few, "processed", "b1", ["s3://raw/streams/a.csv#v1"])
    assert few.pushed == {"files_json": '["s3://raw/streams/a.csv#v1"]', "files_manifest": ""}
    files = [f"s3://raw/streams/{'k' * 1000}{n}.csv#v1" for n in range(100)]
    t.publish_claimed(many, "processed", "b2", files)
    key = "manifests/batch_id=b2/files.json"
    assert many.pushed == {"files_json": "[]", "files_manifest": f"s3://processed/{key}"}
    assert json.loads(written[("processed", key)]) == files


def test_run_states_reach_the_sweepers_rules_as_airflow_names_them():
    """Airflow's task API answers with its DagRunState enum; the rules compare plain names."""
    import music_streaming_tasks as t
    from airflow.utils.state import DagRunState

    from music_streaming import recovery

    class Ti:
        def __init__(self, runs):
            self.runs = runs

        def get_dr_count(self, dag_id, run_ids):
            return int(run_ids[0] in self.runs)

        def get_dagrun_state(self, dag_id, run_id):
            return self.runs[run_id]

    ti = Ti({"r1": DagRunState.RUNNING, "r2": DagRunState.FAILED})
    assert t._run_state(ti, "dag", "r1") == "running"
    assert recovery.why_dead(("dag", "r1"), t._run_state(ti, "dag", "r1")) is None
    assert recovery.why_dead(("dag", "r2"), t._run_state(ti, "dag", "r2")).endswith("ended failed")
    assert t._run_state(ti, "dag", "gone") is recovery.GONE


def test_the_sweeper_starts_a_run_only_when_no_realtime_run_is_active(monkeypatch):
    import music_streaming_tasks as t

    asked = []
    monkeypatch.setattr(t, "request_next_batch", lambda *a: asked.append(a) or {"batch_id": "b"})

    class Ti:
        def __init__(self, active):
            self.active = active

        def get_dr_count(self, dag_id, states):
            assert dag_id == "music_streaming_realtime_pipeline"
            assert set(states) == {"queued", "running"}
            return self.active

    assert t.start_run_if_idle(Ti(1), "raw", "kpis", "sweep-1") is False and asked == []
    assert t.start_run_if_idle(Ti(0), "raw", "kpis", "sweep-1") == {"batch_id": "b"}
    assert asked == [("raw", "kpis", "sweep-1")]
