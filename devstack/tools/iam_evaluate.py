"""Recorded AWS calls evaluated against given IAM policies with MiniStack's IAM evaluator (AWS's
evaluation logic: explicit deny, allow, wildcards, NotAction/NotResource, the conditions). Runs on
MiniStack's interpreter (standard library and ``ministack`` only), JSON in and out:

    .venv-ministack/bin/python devstack/tools/iam_evaluate.py < request.json

request: {"account", "region", "roles": {role: [policy document]}, "buckets": {bucket: policy},
"calls": [{"role", "action", "resource", "context"}]}
reply: {"decisions": [Allow | Deny | ImplicitDeny per call],
"grants": [{"role", "policy", "statement", "action", "resource", "used"}]}

A call is evaluated as AWS evaluates a call over HTTPS (``aws:SecureTransport`` true), against the
role's identity policies and, for S3, the bucket's policy. A grant is one (action, resource) pair of
an Allow statement; it is used when an allowed call matched both.
"""

from __future__ import annotations

import json
import sys

from ministack.core.iam_evaluator import (
    EvalContext,
    _action_matches,
    _conditions_met,
    _resource_matches,
    combine_resource_policy,
    evaluate,
    parse_policy_document,
)


def context_for(call: dict, account: str, region: str) -> EvalContext:
    return EvalContext(
        principal_arn=f"arn:aws:sts::{account}:assumed-role/{call['role']}/iam-check",
        principal_type="AssumedRole",
        principal_account=account,
        action=call["action"],
        resource_arn=call["resource"],
        region=region,
        secure_transport=True,
        service_context={k.lower(): v for k, v in (call.get("context") or {}).items()},
    )


def bucket_of(resource: str) -> str | None:
    prefix = "arn:aws:s3:::"
    return resource[len(prefix) :].split("/", 1)[0] if resource.startswith(prefix) else None


def decide(call: dict, roles: dict, buckets: dict, account: str, region: str) -> str:
    ctx = context_for(call, account, region)
    policies = [parse_policy_document(d) for d in roles.get(call["role"], [])]
    result = evaluate(ctx, policies)
    bucket = bucket_of(call["resource"])
    if call["action"].startswith("s3:") and bucket in buckets:
        result = combine_resource_policy(result, ctx, buckets[bucket], account)
    return result.decision


def grants(roles: dict) -> list[dict]:
    found = []
    for role, documents in roles.items():
        for p, document in enumerate(documents):
            for s, statement in enumerate(parse_policy_document(document)):
                if statement.effect != "Allow":
                    continue
                for action in statement.actions or [f"NotAction:{statement.not_actions}"]:
                    for resource in statement.resources or ["*"]:
                        found.append(
                            {
                                "role": role,
                                "policy": p,
                                "statement": s,
                                "sid": statement.sid,
                                "action": action,
                                "resource": resource,
                                "conditions": statement.conditions,
                                "used": False,
                            }
                        )
    return found


def mark_used(found: list[dict], calls: list[dict], decisions: list[str], account, region) -> None:
    for call, decision in zip(calls, decisions):
        if decision != "Allow":
            continue
        ctx = context_for(call, account, region)
        for grant in found:
            if (
                not grant["used"]
                and grant["role"] == call["role"]
                and _action_matches(call["action"], [grant["action"]], [])
                and _resource_matches(call["resource"], [grant["resource"]], [])
                and _conditions_met(grant["conditions"], ctx)
            ):
                grant["used"] = True


def main() -> None:
    request = json.load(sys.stdin)
    account, region = request["account"], request["region"]
    roles, buckets, calls = request["roles"], request["buckets"], request["calls"]
    decisions = [decide(c, roles, buckets, account, region) for c in calls]
    found = grants(roles)
    mark_used(found, calls, decisions, account, region)
    for grant in found:
        grant.pop("conditions")
    json.dump({"decisions": decisions, "grants": found}, sys.stdout)


if __name__ == "__main__":
    main()
