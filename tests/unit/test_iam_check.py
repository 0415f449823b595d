"""The IAM check: the template's roles resolved for the emulator, and recorded calls evaluated with
MiniStack's evaluator (``iam_evaluate.py`` on MiniStack's interpreter) on AWS's documented
evaluation rules: an explicit deny wins, wildcards, NotAction and NotResource, conditions, a
bucket policy's deny; and grants no call used."""

from __future__ import annotations

import json
import subprocess

import pytest

from devstack.core import emulator, paths
from devstack.provision import iam_roles
from devstack.tools import iam_check
from music_streaming import config

ROLE = "music-streaming-glue"


def evaluate(statements: list[dict], calls: list[dict], buckets: dict | None = None) -> dict:
    """Decisions and grants of ``calls`` (action, resource, context) by a role with one policy."""
    request = {
        "account": emulator.LOCAL_ACCOUNT,
        "region": config.DEFAULT_REGION,
        "roles": {ROLE: [{"Version": "2012-10-17", "Statement": statements}]},
        "buckets": buckets or {},
        "calls": [{"role": ROLE, "context": {}, **c} for c in calls],
    }
    done = subprocess.run(
        [str(paths.MINISTACK_PYTHON), str(iam_check.EVALUATOR)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_explicit_deny_wins_over_any_allow():
    found = evaluate(
        [
            allow("s3:*"),
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"},
        ],
        [
            {"action": "s3:DeleteObject", "resource": "arn:aws:s3:::b/k"},
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        ],
    )
    assert found["decisions"] == ["Deny", "Allow"]


def test_nothing_allowed_is_an_implicit_deny_and_wildcards_match_as_iam_does():
    found = evaluate(
        [allow("s3:Get*", "arn:aws:s3:::raw/streams/*"), allow("dynamodb:?etItem", "*")],
        [
            {"action": "s3:GetObjectVersion", "resource": "arn:aws:s3:::raw/streams/a.csv"},
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::raw/songs/a.csv"},
            {"action": "s3:PutObject", "resource": "arn:aws:s3:::raw/streams/a.csv"},
            {"action": "dynamodb:GetItem", "resource": "arn:aws:dynamodb:::table/t"},
        ],
    )
    assert found["decisions"] == ["Allow", "ImplicitDeny", "ImplicitDeny", "Allow"]


def test_not_action_and_not_resource():
    found = evaluate(
        [
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::mine/*"},
        ],
        [
            {"action": "iam:CreateUser", "resource": "*"},
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::mine/k"},
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::theirs/k"},
            {"action": "sqs:SendMessage", "resource": "arn:aws:sqs:::q"},
        ],
    )
    assert found["decisions"] == ["ImplicitDeny", "Allow", "Deny", "Allow"]


def test_the_templates_namespace_condition_is_evaluated_from_the_calls_context():
    statement = allow(
        "cloudwatch:PutMetricData",
        Condition={"StringEquals": {"cloudwatch:namespace": ["ETL/Metrics"]}},
    )
    found = evaluate(
        [statement],
        [
            {
                "action": "cloudwatch:PutMetricData",
                "resource": "*",
                "context": {"cloudwatch:namespace": "ETL/Metrics"},
            },
            {
                "action": "cloudwatch:PutMetricData",
                "resource": "*",
                "context": {"cloudwatch:namespace": "Other"},
            },
            {"action": "cloudwatch:PutMetricData", "resource": "*"},
        ],
    )
    assert found["decisions"] == ["Allow", "ImplicitDeny", "ImplicitDeny"]


def test_a_bucket_policys_deny_of_the_role_wins_and_https_is_assumed():
    template = iam_roles.load_template()
    buckets = iam_roles.bucket_policies(
        template, iam_roles.local_context(config.settings(), template)
    )
    archive = f"arn:aws:s3:::{config.settings()['archive_bucket']}"
    found = evaluate(
        [allow("s3:*")],
        [
            {"action": "s3:DeleteObject", "resource": f"{archive}/streams/a.csv"},
            {"action": "s3:GetObject", "resource": f"{archive}/streams/a.csv"},
        ],
        buckets,
    )
    # the archive's policy denies the Glue role deletes; DenyInsecureTransport does not apply
    assert found["decisions"] == ["Deny", "Allow"]


def test_a_grant_is_used_only_by_an_allowed_call_matching_its_action_and_resource():
    found = evaluate(
        [allow(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"])],
        [{"action": "s3:GetObject", "resource": "arn:aws:s3:::a/k"}],
    )
    used = {(g["action"], g["resource"]) for g in found["grants"] if g["used"]}
    assert used == {("s3:GetObject", "arn:aws:s3:::a/*")}
    assert len(found["grants"]) == 4


def test_the_templates_roles_resolve_for_the_emulator_completely():
    template = iam_roles.load_template()
    roles = iam_roles.role_documents(template, iam_roles.local_context(config.settings(), template))
    assert set(roles) == set(emulator.LOCAL_ROLE_NAMES.values())
    text = json.dumps(roles)
    assert "Fn::" not in text and "${" not in text and '"Ref"' not in text
    lambda_role = roles[emulator.LOCAL_ROLE_NAMES["TriggerDagRole"]]
    actions = [s["Action"] for p in lambda_role["policies"].values() for s in p["Statement"]]
    assert "airflow:CreateCliToken" not in actions  # Fn::If on TriggerByCli, rest_api locally


def test_an_intrinsic_without_a_local_value_is_named_with_its_place():
    with pytest.raises(iam_roles.Unresolvable, match=r"R\.Properties: Ref Nope"):
        iam_roles.resolve(
            {"Properties": {"Ref": "Nope"}},
            {"refs": {}, "attributes": {}},
            {},
            "R",
        )


def test_role_of_an_assumed_role_session():
    assert iam_check.role_of("arn:aws:sts::000000000000:assumed-role/r/s") == "r"
    assert iam_check.role_of("arn:aws:iam::000000000000:root") is None


def test_excused_grants_match_by_glob():
    excuses = [{"action": "sqs:*", "resource": "arn:aws:sqs:*:*:airflow-celery-*", "reason": "x"}]
    assert iam_check.is_excused(
        {"action": "sqs:SendMessage", "resource": "arn:aws:sqs:us-east-1:*:airflow-celery-*"},
        excuses,
    )
    assert not iam_check.is_excused({"action": "s3:GetObject", "resource": "*"}, excuses)
