"""The template's IAM roles (infra/template.json) as the local stack's emulator holds them: each role's
trust and inline policies with the template's intrinsic functions resolved for the emulator's
account, region and names, so a component acting as its role locally is allowed exactly what the
deployed role will allow. ``scripts/iam-check`` reads the same documents from any template file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.core import emulator, paths
from music_streaming import config

TEMPLATE = paths.ROOT / "infra" / "template.json"
NO_VALUE = object()


class Unresolvable(ValueError):
    """An intrinsic function the local resolution does not know (named, with where it is)."""


def local_context(settings: dict, template: dict) -> dict[str, Any]:
    """Values of the template's pseudo parameters, parameters and attributes on the local stack."""
    region = str(settings["aws_region"])
    account = emulator.LOCAL_ACCOUNT
    queue = template["Resources"]["TriggerDeadLetterQueue"]["Properties"]["QueueName"]
    return {
        "refs": {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::URLSuffix": "amazonaws.com",
            # the local stack has its MWAA environment, and the Lambda triggers as configured
            "CreateMwaaEnvironment": "true",
            "TriggerMethod": str(config.lambda_environment(settings)["TRIGGER_METHOD"]),
            "AlarmEmail": "",
            # a bucket's Ref is its name (the template names the pipeline's buckets)
            **{
                logical: resource["Properties"]["BucketName"]
                for logical, resource in template["Resources"].items()
                if resource["Type"] == "AWS::S3::Bucket"
                and isinstance(resource["Properties"].get("BucketName"), str)
            },
        },
        "attributes": {
            "TriggerDeadLetterQueue.Arn": f"arn:aws:sqs:{region}:{account}:{queue}",
            **{
                f"{logical}.Arn": emulator.local_role_arn(n)
                for logical, n in emulator.LOCAL_ROLE_NAMES.items()
            },
        },
    }


def resolve(node: Any, context: dict, conditions: dict, where: str = "") -> Any:
    """``node`` with Ref, Fn::Sub, Fn::GetAtt, Fn::If and Fn::Equals/Not/And/Or resolved."""
    if isinstance(node, list):
        items = [resolve(n, context, conditions, f"{where}[{i}]") for i, n in enumerate(node)]
        return [i for i in items if i is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((name, argument),) = node.items()
        if name == "Ref":
            if argument == "AWS::NoValue":
                return NO_VALUE
            if argument not in context["refs"]:
                raise Unresolvable(f"{where}: Ref {argument} has no local value")
            return context["refs"][argument]
        if name == "Fn::GetAtt":
            key = ".".join(argument) if isinstance(argument, list) else argument
            if key not in context["attributes"]:
                raise Unresolvable(f"{where}: Fn::GetAtt {key} has no local value")
            return context["attributes"][key]
        if name == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            own = (
                {}
                if isinstance(argument, str)
                else resolve(argument[1], context, conditions, where)
            )
            values = {**context["refs"], **context["attributes"], **own}
            for key, value in values.items():
                text = text.replace("${" + key + "}", str(value))
            if "${" in text:
                raise Unresolvable(f"{where}: Fn::Sub leaves {text!r}")
            return text
        if name == "Fn::If":
            condition, then, otherwise = argument
            chosen = then if condition_holds(condition, context, conditions) else otherwise
            return resolve(chosen, context, conditions, where)
    resolved = {k: resolve(v, context, conditions, f"{where}.{k}") for k, v in node.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def condition_holds(name: str, context: dict, conditions: dict) -> bool:
    def holds(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, argument),) = node.items()
            if fn == "Fn::Equals":
                return holds(argument[0]) == holds(argument[1])
            if fn == "Fn::Not":
                return not holds(argument[0])
            if fn == "Fn::And":
                return all(holds(a) for a in argument)
            if fn == "Fn::Or":
                return any(holds(a) for a in argument)
            if fn == "Condition":
                return holds(conditions[argument])
            if fn == "Ref":
                return context["refs"][argument]
        return node

    return bool(holds(conditions[name]))


def role_documents(template: dict, context: dict) -> dict[str, dict]:
    """Local role name -> {"trust": document, "policies": {policy name: document}}."""
    conditions = template.get("Conditions", {})
    roles = {}
    for logical, name in emulator.LOCAL_ROLE_NAMES.items():
        properties = template["Resources"][logical]["Properties"]
        roles[name] = {
            "trust": resolve(properties["AssumeRolePolicyDocument"], context, conditions, logical),
            "policies": {
                p["PolicyName"]: resolve(p["PolicyDocument"], context, conditions, logical)
                for p in properties.get("Policies", [])
            },
        }
    return roles


def bucket_policies(template: dict, context: dict) -> dict[str, dict]:
    """Bucket name -> its policy document, for the template's S3 bucket policies."""
    conditions = template.get("Conditions", {})
    found = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::S3::BucketPolicy":
            continue
        properties = resource["Properties"]
        try:
            name = resolve(properties["Bucket"], context, conditions, logical)
            found[name] = resolve(properties["PolicyDocument"], context, conditions, logical)
        except Unresolvable:
            continue  # a bucket the local stack does not have (the access-log bucket)
    return found


def load_template(path: Path = TEMPLATE) -> dict:
    return json.loads(path.read_text())


def ensure_roles(iam, template: dict, context: dict) -> dict[str, str]:
    """Creates the template's roles in the emulator, or replaces their policies with the
    template's (a policy no longer in the template is removed); idempotent."""
    report = {}
    for name, role in role_documents(template, context).items():
        trust = json.dumps(role["trust"])
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
            report[name] = "created"
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
            report[name] = "updated"
        for old in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            if old not in role["policies"]:
                iam.delete_role_policy(RoleName=name, PolicyName=old)
        for policy_name, document in role["policies"].items():
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
    return report
