"""Athena's JSON 1.1 protocol: the operation named in ``X-Amz-Target``
(``AmazonAthena.StartQueryExecution``), its input as the body, its reply in the shape of Athena's
service model."""

from __future__ import annotations

from typing import Callable

from devstack.services import http_api
from devstack.services.athena import exceptions as err
from devstack.services.athena.models import AthenaBackend


class AthenaResponses:
    """One method per Athena operation the local API answers."""

    def __init__(self, backend: AthenaBackend):
        self.backend = backend

    def StartQueryExecution(self, req: dict) -> dict:
        return {"QueryExecutionId": self.backend.start(req)}

    def GetQueryExecution(self, req: dict) -> dict:
        return {"QueryExecution": self.backend.get(req["QueryExecutionId"])}

    def BatchGetQueryExecution(self, req: dict) -> dict:
        found, missing = [], []
        for query_id in req["QueryExecutionIds"]:
            try:
                found.append(self.backend.get(query_id))
            except err.InvalidRequestException as exc:
                missing.append(
                    {
                        "QueryExecutionId": query_id,
                        "ErrorCode": exc.code,
                        "ErrorMessage": exc.message,
                    }
                )
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def GetQueryResults(self, req: dict) -> dict:
        return self.backend.results(
            req["QueryExecutionId"], int(req.get("MaxResults") or 1000), req.get("NextToken")
        )

    def StopQueryExecution(self, req: dict) -> dict:
        self.backend.stop(req["QueryExecutionId"])
        return {}

    def ListQueryExecutions(self, req: dict) -> dict:
        return self.backend.list(req)

    def GetWorkGroup(self, req: dict) -> dict:
        return {"WorkGroup": self.backend.get_workgroup(req["WorkGroup"])}

    def ListWorkGroups(self, req: dict) -> dict:
        return {"WorkGroups": self.backend.list_workgroups()}


def service(responses: AthenaResponses) -> Callable[[http_api.Request], dict]:
    def handle(request: http_api.Request) -> dict:
        target = request.header("X-Amz-Target")
        operation = target.split(".", 1)[-1]
        handler = None
        if target.startswith("AmazonAthena.") and operation[:1].isupper():
            handler = getattr(responses, operation, None)
        if handler is None:
            raise err.UnknownOperationException(
                f"{target or 'no X-Amz-Target'} is not supported by the local Athena service"
            )
        return handler(request.json())

    return handle


def handler_class(backend: AthenaBackend, guard: http_api.Guard):
    return http_api.handler_class(
        service(AthenaResponses(backend)),
        lambda: {"status": "healthy", "queries": len(backend.executions)},
        "application/x-amz-json-1.1",
        "InvalidRequestException",
        guard,
    )
