"""The AWS deploy's requests, stubbed and checked against the limits of botocore's models (which
botocore does not enforce client-side: a string's maximum length) and the ones only AWS's API
reference states (CreateChangeSet's TemplateBody: at most 51,200 bytes, which the model leaves
out): the template goes to the artifacts bucket and the change set names it by TemplateURL."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from devstack.provision import deploy

REGION = "eu-west-1"
# Limits AWS's API reference documents that botocore's model does not carry.
DOCUMENTED_MAX = {"CreateChangeSet.TemplateBody": 51200, "CreateStack.TemplateBody": 51200}


def limits_broken(shape, value, path: str) -> list[str]:
    """Where ``value`` breaks the model's length and range limits."""
    found = []
    kind = shape.type_name
    limits = shape.metadata
    if kind == "structure":
        for name, member in shape.members.items():
            if name in value:
                found += limits_broken(member, value[name], f"{path}.{name}")
    elif kind == "list":
        for i, item in enumerate(value):
            found += limits_broken(shape.member, item, f"{path}[{i}]")
    most = limits.get("max", DOCUMENTED_MAX.get(path))
    size = len(value.encode()) if isinstance(value, str) else len(value)
    if kind in ("string", "list", "blob") and most is not None and size > most:
        found.append(f"{path}: length {size} over {most}")
    if kind in ("string", "list") and "min" in limits and len(value) < limits["min"]:
        found.append(f"{path}: length {len(value)} under {limits['min']}")
    return found


class CheckedStubber(Stubber):
    """A Stubber that also checks each expected request against the operation's limits."""

    def __init__(self, client):
        super().__init__(client)
        self.broken: list[str] = []

    def add_response(self, method, service_response, expected_params=None):
        if expected_params:
            operation = self.client.meta.method_to_api_mapping[method]
            shape = self.client.meta.service_model.operation_model(operation).input_shape
            concrete = {k: v for k, v in expected_params.items() if v is not ANY}
            self.broken += limits_broken(shape, concrete, operation)
        super().add_response(method, service_response, expected_params)


def test_the_limit_checker_finds_a_template_body_over_51200_bytes():
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    shape = cloudformation.meta.service_model.operation_model("CreateChangeSet").input_shape
    body = deploy.TEMPLATE.read_text()
    assert limits_broken(shape, {"TemplateBody": body}, "CreateChangeSet") == [
        f"CreateChangeSet.TemplateBody: length {len(body.encode())} over 51200"
    ]  # why the deploy cannot send it as TemplateBody
    assert limits_broken(shape, {"TemplateURL": "https://" + "x" * 5200}, "CreateChangeSet")


@pytest.fixture
def clients():
    args = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return boto3.client("s3", **args), boto3.client("cloudformation", **args)


def test_the_template_goes_to_the_artifacts_bucket_and_the_change_set_names_its_url(clients):
    s3, cloudformation = clients
    bucket, key = "artifacts", deploy.template_key()
    s3_stub, cfn_stub = CheckedStubber(s3), CheckedStubber(cloudformation)
    s3_stub.add_client_error("head_object", "404", http_status_code=404)
    s3_stub.add_response(
        "put_object",
        {"VersionId": "v1"},
        {"Bucket": bucket, "Key": key, "Body": ANY, "ContentType": "application/json"},
    )
    url = f"https://s3.{REGION}.amazonaws.com/{bucket}/{key}"
    cfn_stub.add_client_error("describe_stacks", "ValidationError")
    change_set = f"stack-{key.split('-')[1][:8]}"
    cfn_stub.add_response(
        "create_change_set",
        {"Id": "arn:cs", "StackId": "arn:stack"},
        {
            "StackName": "stack",
            "ChangeSetName": change_set,
            "ChangeSetType": "CREATE",
            "TemplateURL": url,
            "Parameters": deploy.stack_parameters(None),
            "Capabilities": ["CAPABILITY_IAM"],
        },
    )
    cfn_stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []})
    cfn_stub.add_response("execute_change_set", {})
    cfn_stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "stack",
                    "CreationTime": "2026-12-07T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                }
            ]
        },
    )
    with s3_stub, cfn_stub:
        assert deploy.upload_template(s3, bucket, REGION) == url
        assert deploy.deploy_stack(cloudformation, "stack", deploy.stack_parameters(None), url) == (
            "created"
        )
    s3_stub.assert_no_pending_responses()
    cfn_stub.assert_no_pending_responses()
    assert s3_stub.broken == [] and cfn_stub.broken == []


def test_a_template_already_uploaded_is_not_uploaded_again(clients):
    s3, _ = clients
    stub = Stubber(s3)
    stub.add_response("head_object", {"ContentLength": 1})
    with stub:
        deploy.upload_template(s3, "artifacts", REGION)
    stub.assert_no_pending_responses()
    assert issubclass(s3.exceptions.ClientError, ClientError)
