"""scripts/reset and scripts/snapshot: names that cannot leave the snapshots directory, and the
refusals a user sees (no stack needed)."""

from __future__ import annotations

import argparse

import pytest

from devstack.core.stack_config import StackConfig
from devstack.tools import stack_state


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "x" * 65, "sp ace"])
def test_a_snapshot_name_cannot_leave_the_snapshots_directory(tmp_path, name):
    with pytest.raises(stack_state.StateError, match="letters, digits"):
        stack_state.snapshot_dir(StackConfig(home=tmp_path), name)


def test_a_snapshot_name_is_a_directory_under_the_home(tmp_path):
    path = stack_state.snapshot_dir(StackConfig(home=tmp_path), "before-change_1.2")
    assert path == tmp_path / "snapshots" / "before-change_1.2"


def test_loading_an_unknown_snapshot_and_saving_over_one_are_refused(tmp_path, capsys):
    cfg = StackConfig(home=tmp_path)
    args = argparse.Namespace(action="load", name="nope", replace=False)
    assert stack_state.run_snapshot(args, cfg) == 1
    assert "no snapshot nope" in capsys.readouterr().err
    (tmp_path / "snapshots" / "kept").mkdir(parents=True)
    args = argparse.Namespace(action="save", name="kept", replace=False)
    assert stack_state.run_snapshot(args, cfg) == 1
    assert "--replace" in capsys.readouterr().err
    args = argparse.Namespace(action="list", name=None, replace=False)
    assert stack_state.run_snapshot(args, cfg) == 0
    assert capsys.readouterr().out.startswith("kept  ")


def test_reset_without_a_terminal_needs_yes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert stack_state.run_reset(argparse.Namespace(yes=False), StackConfig(home=tmp_path)) == 2
    assert "pass --yes" in capsys.readouterr().err
