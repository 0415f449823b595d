"""The demo's live view: one line per change off a terminal, one table redrawn on a terminal."""

import io

import pytest
from rich.console import Console

from devstack.tools import live_view

FILE = "s3://raw/streams/a.csv#v1"
# What the ledger and Airflow say at each poll: (file state, batch, run state, task states).
STEPS = [
    ("RECEIVED", None, None, {}),
    ("CLAIMED", "b1", "running", {"claim_files": "success", "validate": "running"}),
    ("ARCHIVED", "b1", "running", {"claim_files": "success", "validate": "success"}),
    ("ARCHIVED", "b1", "success", {"claim_files": "success", "validate": "success"}),
]


class Replay:
    """A ledger and an Airflow that move one step each time the file is read."""

    def __init__(self):
        self.step = -1

    def get(self, file_id):
        self.step = min(self.step + 1, len(STEPS) - 1)
        state, batch, _run, _tasks = STEPS[self.step]
        return {"state": state, **({"batch_id": batch} if batch else {})}

    def call(self, method, path, query, body):
        _state, _batch, run, tasks = STEPS[self.step]
        if path.endswith("/taskInstances"):
            return 200, {
                "task_instances": [
                    {"task_id": t, "state": s, "start_date": f"2024-06-01T00:00:0{i}+00:00"}
                    for i, (t, s) in enumerate(tasks.items())
                ]
            }
        return 200, {"state": run, "start_date": "2024-06-01T00:00:00+00:00", "end_date": None}


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(live_view, "POLL_SECONDS", 0)


def test_off_a_terminal_each_change_is_one_plain_line():
    out = io.StringIO()
    replay = Replay()
    # a narrow console (a pipe is 80 columns): a line is never folded into two
    last = live_view.follow(replay, replay, "dag", [FILE], 60, Console(file=out, width=30))
    lines = [line.split(" s  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "streams/a.csv#v1: RECEIVED (-)",
        "run b1: claim_files success",
        "run b1: running",
        "run b1: validate running",
        "streams/a.csv#v1: CLAIMED (b1)",
        "run b1: validate success",
        "streams/a.csv#v1: ARCHIVED (b1)",
        "run b1: success",
    ]
    assert last.runs["b1"].state == "success"


def test_on_a_terminal_one_table_is_redrawn():
    out = io.StringIO()
    replay = Replay()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    live_view.follow(replay, replay, "dag", [FILE], 60, console)
    text = out.getvalue()
    assert "1 file(s)" in text and "run b1" in text and "ARCHIVED" in text
    assert text.count("\n") < 80  # redrawn in place, not a line per poll appended


def test_the_current_task_is_the_running_one_else_the_last_that_ran():
    view = live_view.RunView("b1", "running", {"a": "success", "b": "running", "c": None})
    assert view.current == "b"
    view.tasks["b"] = "success"
    assert view.current == "b"


def test_a_file_that_is_never_decided_times_out_naming_its_state():
    class Stuck(Replay):
        def get(self, file_id):
            self.step = 0
            return {"state": "RECEIVED"}

    stuck = Stuck()
    with pytest.raises(TimeoutError, match="RECEIVED"):
        live_view.follow(stuck, stuck, "dag", [FILE], 0, Console(file=io.StringIO()))
