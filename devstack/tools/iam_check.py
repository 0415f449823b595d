"""``scripts/iam-check [--template FILE] [--calls FILE] [--json]``: every AWS call the stack's
components made as their roles (recorded by the emulator in ``audit`` or ``enforce`` mode) evaluated
against those roles' policies in the CloudFormation template (and the buckets' policies) with AWS's
evaluation logic (MiniStack's IAM evaluator, ``iam_evaluate.py``). Prints, per role, each call AWS
would deny and each grant (action on resource) no recorded call used; exits 1 if either is found,
except unused grants the role's ``Metadata`` excuses (``iam-check: unused``, each with its reason,
as the checkov suppressions are)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatchcase
from pathlib import Path

from tabulate import tabulate

from devstack.core import emulator, paths
from devstack.core.stack_config import StackConfig
from devstack.provision import iam_roles
from music_streaming import config

EVALUATOR = Path(__file__).with_name("iam_evaluate.py")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template", type=Path, default=iam_roles.TEMPLATE, help="the CloudFormation template"
    )
    parser.add_argument(
        "--calls", type=Path, help="the recorded calls (default: the stack's, .stack/iam)"
    )
    parser.add_argument("--json", action="store_true", help="the findings as JSON")


def read_calls(path: Path) -> tuple[list[dict], Counter]:
    """Distinct recorded calls of the template's roles (role, action, resource, context), and how
    many times each was made."""
    roles = set(emulator.LOCAL_ROLE_NAMES.values())
    counts: Counter = Counter()
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        call = json.loads(line)
        role = role_of(call["principal"])
        if role not in roles:
            continue  # a test's or a person's own role, not a component's
        context = json.dumps(call.get("context") or {}, sort_keys=True)
        counts[(role, call["action"], call["resource"], context)] += 1
    calls = [
        {"role": r, "action": a, "resource": res, "context": json.loads(c)}
        for r, a, res, c in counts
    ]
    return calls, counts


def role_of(principal: str) -> str | None:
    """The role of an assumed-role session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)."""
    parts = principal.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith("assumed-role/"):
        return None
    return parts[5].split("/")[1]


def excused(template: dict) -> dict[str, list[dict]]:
    """Role name -> the unused grants its Metadata excuses ({action, resource, reason})."""
    found = {}
    for logical, name in emulator.LOCAL_ROLE_NAMES.items():
        metadata = template["Resources"][logical].get("Metadata", {})
        found[name] = metadata.get("iam-check", {}).get("unused", [])
    return found


def is_excused(grant: dict, excuses: list[dict]) -> bool:
    return any(
        fnmatchcase(grant["action"], e["action"]) and fnmatchcase(grant["resource"], e["resource"])
        for e in excuses
    )


def check(template_path: Path, calls_path: Path) -> dict:
    """{role: {"denied": [...], "unused": [...], "excused": [...], "calls": n}}."""
    template = json.loads(template_path.read_text())
    context = iam_roles.local_context(config.settings(), template)
    roles = iam_roles.role_documents(template, context)
    calls, counts = read_calls(calls_path)
    request = {
        "account": emulator.LOCAL_ACCOUNT,
        "region": context["refs"]["AWS::Region"],
        "roles": {name: list(r["policies"].values()) for name, r in roles.items()},
        "buckets": iam_roles.bucket_policies(template, context),
        "calls": calls,
    }
    done = subprocess.run(
        [str(paths.MINISTACK_PYTHON), str(EVALUATOR)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    reply = json.loads(done.stdout)
    excuses = excused(template)
    findings = {name: {"denied": [], "unused": [], "excused": [], "calls": 0} for name in roles}
    for call, decision in zip(calls, reply["decisions"]):
        key = (
            call["role"],
            call["action"],
            call["resource"],
            json.dumps(call["context"], sort_keys=True),
        )
        findings[call["role"]]["calls"] += counts[key]
        if decision != "Allow":
            findings[call["role"]]["denied"].append(
                {**call, "decision": decision, "times": counts[key]}
            )
    for grant in reply["grants"]:
        if grant["used"]:
            continue
        kind = "excused" if is_excused(grant, excuses[grant["role"]]) else "unused"
        findings[grant["role"]][kind].append(
            {"action": grant["action"], "resource": grant["resource"], "sid": grant["sid"]}
        )
    return findings


def render(findings: dict) -> str:
    lines = []
    for role, found in findings.items():
        lines.append(
            f"{role}: {found['calls']} calls, {len(found['denied'])} denied, "
            f"{len(found['unused'])} unused grants ({len(found['excused'])} excused)"
        )
        if found["denied"]:
            rows = [
                (d["action"], d["resource"], d["decision"], d["times"], json.dumps(d["context"]))
                for d in found["denied"]
            ]
            lines.append(
                tabulate(rows, ["denied call", "resource", "decision", "times", "context"])
            )
        if found["unused"]:
            rows = [(u["action"], u["resource"]) for u in found["unused"]]
            lines.append(tabulate(rows, ["unused grant", "resource"]))
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    calls_path = args.calls or cfg.iam_audit_log
    if not calls_path.exists():
        print(
            f"iam-check: no recorded calls at {calls_path}; run the pipeline on a stack in IAM mode "
            "audit (the default) or enforce (MUSIC_STACK_IAM_MODE)",
            file=sys.stderr,
        )
        return 2
    findings = check(args.template, calls_path)
    print(json.dumps(findings, indent=2) if args.json else render(findings))
    failed = any(f["denied"] or f["unused"] for f in findings.values())
    return 1 if failed else 0
