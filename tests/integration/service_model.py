"""A local API's raw replies checked against botocore's model of the AWS service: no member the
model lacks, every required member present, types and enums as modelled, and errors among those
the operation documents. boto3 cannot see these faults (its parser drops unknown members)."""

from __future__ import annotations

import json
from numbers import Number

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

from devstack.services import http_api

# Errors any AWS operation may answer besides those its model lists (the API references' "Common
# Errors"): an IAM refusal is one.
COMMON_ERRORS = {"AccessDeniedException"}


def model(service: str):
    return botocore.session.get_session().get_service_model(service)


def problems(shape: Shape, value, path: str = "") -> list[str]:
    """What in ``value`` (a reply parsed from JSON) the shape does not allow."""
    where = path or shape.name
    if value is None:
        return [f"{where}: null"]
    if getattr(shape, "is_document_type", False):  # any JSON (MWAA's RestApiResponse)
        return []
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a structure"]
        found = [f"{where}.{k}: not in the model" for k in value if k not in shape.members]
        found += [
            f"{where}.{k}: required, missing" for k in shape.required_members if k not in value
        ]
        for key, item in value.items():
            if key in shape.members:
                found += problems(shape.members[key], item, f"{where}.{key}")
        return found
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [
            p for i, item in enumerate(value) for p in problems(shape.member, item, f"{where}[{i}]")
        ]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a map"]
        return [
            p for k, item in value.items() for p in problems(shape.value, item, f"{where}[{k}]")
        ]
    kind = shape.type_name
    ok = {
        "string": lambda v: isinstance(v, str),
        "blob": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, Number) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, Number) and not isinstance(v, bool),
        "timestamp": lambda v: isinstance(v, (int, float, str)) and not isinstance(v, bool),
    }.get(kind, lambda v: True)
    if not ok(value):
        return [f"{where}: {value!r} is not a {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} is not one of {shape.enum}"]
    return []


class Checked:
    """Wraps a local API's service function: every reply and error of a modelled operation is
    checked; what is wrong is collected in ``found``."""

    def __init__(self, service_name: str, service, target_prefix: str = "", operation_of=None):
        """The operation is the X-Amz-Target after ``target_prefix`` (JSON protocols), or what
        ``operation_of(request)`` names (REST protocols; None for a path no operation has)."""
        self.model = model(service_name)
        self.service = service
        self.operation_of = operation_of or (
            lambda request: request.header("X-Amz-Target").removeprefix(target_prefix)
        )
        self.found: list[str] = []
        self.seen: set[str] = set()

    def __call__(self, request: http_api.Request) -> dict:
        operation = self.operation_of(request)
        modelled = operation in self.model.operation_names
        try:
            reply = self.service(request)
        except http_api.ApiError as exc:
            if modelled:
                self.seen.add(operation)
                errors = {e.name for e in self.model.operation_model(operation).error_shapes}
                if exc.code not in errors | COMMON_ERRORS:
                    self.found.append(f"{operation}: error {exc.code} not among {sorted(errors)}")
            raise
        if modelled:
            self.seen.add(operation)
            output = self.model.operation_model(operation).output_shape
            if isinstance(reply, http_api.Raw):
                raise AssertionError(f"{operation} answered a raw reply")
            raw = json.loads(json.dumps(reply, default=str))
            self.found += problems(output, raw, operation) if output else []
        return reply
