"""The devstack CLI: commands that need the running stack say so when it is down."""

import socket
import subprocess
import sys

import pytest

from devstack import cli
from devstack.core import paths
from devstack.runtime import stack


@pytest.fixture
def stack_down(monkeypatch, tmp_path):
    port = stack.free_port()  # nothing listens there
    monkeypatch.setenv("MUSIC_STACK_HOME", str(tmp_path))
    monkeypatch.setenv("MUSIC_STACK_MINISTACK_PORT", str(port))
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "argv",
    [
        ["kpis"],
        ["kpis", "--date", "2024-07-01"],
        ["seed"],
        ["deploy", "--target", "local"],
        ["trace", "streams/a.csv"],
        ["query", "SELECT 1"],
        ["query", "--tables"],
        ["spark-ui"],
        ["reset", "--yes"],
        ["rebuild-kpis"],
        ["report"],
    ],
)
def test_a_command_on_a_stopped_stack_names_the_endpoint_and_the_fix(stack_down, capsys, argv):
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert stack_down in error and "scripts/up" in error and error.startswith(f"{argv[0]}:")


def test_commands_that_start_the_stack_or_target_aws_are_not_refused():
    for argv in (
        ["up"],
        ["demo"],
        ["kpis", "--aws"],
        ["deploy", "--target", "aws"],
        ["status"],
        ["query", "--aws", "SELECT 1"],
        ["rebuild-kpis", "--aws"],
        ["report", "--aws"],
        ["snapshot", "load", "x"],  # it starts the stack
    ):
        assert not cli.reads_the_local_stack(cli.parser().parse_args(argv)), argv


def test_listening_sees_a_listener_and_its_absence():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert stack.listening(url)
    assert not stack.listening(url)


def test_status_of_a_stopped_stack_reports_every_component_down(stack_down, capsys):
    assert cli.main(["status"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["component", "state"]
    assert {line.split()[1] for line in lines[1:] if line.strip()} == {"down"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench-history", "--days", "0"], "0 is not positive"),
        (["bench-kpis", "--sizes", "1000", "-5"], "-5 is not positive"),
        (["bench-history", "--streams-per-day", "many"], "'many' is not a whole number"),
        (["query", "--max-rows", "0", "SELECT 1"], "0 is not positive"),
        (["rebuild-kpis", "--date", "2024-13-01"], "'2024-13-01' is not a day as YYYY-MM-DD"),
        (["report", "--date", "20240601"], "'20240601' is not a day as YYYY-MM-DD"),
    ],
)
def test_bad_counts_and_days_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_cli_imports_without_rich():
    """LocalStack's init hook runs `python -m devstack bootstrap` on its own Python: only the
    commands that draw (demo, seed's progress bars) import rich, when they run."""
    blocker = (
        "import sys, importlib.abc\n"
        "class NoRich(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'rich':\n"
        "            raise ImportError('rich is not installed here')\n"
        "sys.meta_path.insert(0, NoRich())\n"
        "import devstack.cli\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_command_has_a_readme_row_and_a_script():
    readme = (paths.ROOT / "README.md").read_text()
    commands = (
        "query",
        "spark-ui",
        "reset",
        "snapshot",
        "rebuild-kpis",
        "report",
        "trace",
        "retry",
    )
    for name in commands:
        assert (paths.ROOT / "scripts" / name).is_file(), name
        assert f"| `scripts/{name}" in readme, name


def test_retry_names_failed_files_by_key_or_file_id():
    from devstack.tools import retry

    failed = [
        {"file_key": "s3://raw/streams/a.csv#v1", "key": "streams/a.csv"},
        {"file_key": "s3://raw/streams/a.csv#v2", "key": "streams/a.csv"},
        {"file_key": "s3://raw/streams/b.csv#v1", "key": "streams/b.csv"},
    ]
    assert retry.chosen(failed, None) == failed
    assert retry.chosen(failed, "streams/a.csv") == failed[:2]
    assert retry.chosen(failed, "s3://raw/streams/b.csv#v1") == failed[2:]
    assert retry.chosen(failed, "streams/c.csv") == []
