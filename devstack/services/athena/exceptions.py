"""Athena's errors, one class per error code the local Athena API answers (``__type``; an
``InvalidRequestException`` carries ``AthenaErrorCode`` as Athena's does)."""

from __future__ import annotations

from devstack.services.http_api import ApiError


class AthenaError(ApiError):
    code = "InternalServerException"

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(400, self.code, message, extra)


class InternalServerException(AthenaError):
    code = "InternalServerException"

    def __init__(self, message: str):
        ApiError.__init__(self, 500, self.code, message)


class InvalidRequestException(AthenaError):
    code = "InvalidRequestException"

    def __init__(self, message: str, athena_code: str = "INVALID_INPUT"):
        super().__init__(message, {"AthenaErrorCode": athena_code})


class ResourceNotFoundException(AthenaError):
    code = "ResourceNotFoundException"


class UnknownOperationException(AthenaError):
    """Not one of Athena's operations (the JSON protocol's answer to an unknown X-Amz-Target)."""

    code = "UnknownOperationException"


class QueryFailed(Exception):
    """A query that ran and failed: its state reason and Athena's error category and type."""

    def __init__(self, reason: str, error_type: int = 1006, category: int = 2):
        super().__init__(reason)
        self.reason, self.error_type, self.category = reason, error_type, category
