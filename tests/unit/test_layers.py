"""The layers of devstack/ and the package, as docs/architecture.md states them: nothing imports
upward, no import cycle (imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A module's layer may import the layers listed (and itself).
ALLOWED = {
    "music_streaming": {"awsglue"},  # Glue's library, in Glue and in local runs
    "awsglue": set(),  # the local awsglue: pyspark, boto3 and the standard library only
    "devstack": set(),  # the package docstring only
    "devstack.core": {"music_streaming"},
    "devstack.services": {"music_streaming", "devstack.core"},
    "devstack.provision": {"music_streaming", "devstack.core"},
    "devstack.runtime": {"music_streaming", "devstack.core"},
    "devstack.tools": {
        "music_streaming",
        "devstack.core",
        "devstack.provision",
        "devstack.runtime",
    },
    "devstack.cli": {
        "music_streaming",
        "devstack.core",
        "devstack.provision",
        "devstack.runtime",
        "devstack.tools",
    },
    "devstack.__main__": {"devstack.cli"},
}


SOURCE_ROOTS = (ROOT / "glue" / "awsglue_local", ROOT / "glue", ROOT)


def module_name(path: Path) -> str:
    root = next(r for r in SOURCE_ROOTS if path.is_relative_to(r))
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    files = [
        *(ROOT / "devstack").rglob("*.py"),
        *(ROOT / "glue" / "music_streaming").rglob("*.py"),
        *(ROOT / "glue" / "awsglue_local" / "awsglue").rglob("*.py"),
    ]
    return {module_name(p): p for p in files if "__pycache__" not in p.parts}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    known = modules()
    return {name for name in found if name in known}


def layer(module: str) -> str:
    return next(
        name
        for name in sorted(ALLOWED, key=len, reverse=True)
        if module == name or module.startswith(name + ".")
    )


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_only_from_its_own_or_lower_layers(module):
    own = layer(module)
    for target in imports(modules()[module]):
        assert layer(target) in ALLOWED[own] | {own}, f"{module} imports {target} (upward)"


def test_no_import_cycle():
    graph = {
        name: {t for t in imports(path) if t != name and not name.startswith(t + ".")}
        for name, path in modules().items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in graph.get(node, ()):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail + [node, target]))
            if target not in state:
                visit(target, trail + [node])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize(
    "module", sorted(m for m in modules() if m == "awsglue" or m.startswith("awsglue."))
)
def test_the_local_awsglue_needs_only_pyspark_boto3_and_the_standard_library(module):
    """It runs in any Glue run, beside whatever the job brings: nothing of the pipeline."""
    import sys

    tree = ast.parse(modules()[module].read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names | {"pyspark", "boto3", "awsglue"}, (
                f"{module} imports {name}"
            )


def test_test_modules_have_unique_names():
    """pytest imports test files by basename (no packages): two of one name break collection."""
    names = [p.name for p in (ROOT / "tests").glob("*/test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
