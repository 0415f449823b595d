"""Glue's errors, one class per error code the local Glue API answers (the code goes out as
``__type``, as botocore reads it)."""

from __future__ import annotations

from devstack.services.http_api import ApiError


class GlueError(ApiError):
    code = "InternalServiceException"

    def __init__(self, message: str):
        super().__init__(400, self.code, message)


class EntityNotFoundException(GlueError):
    code = "EntityNotFoundException"


class AlreadyExistsException(GlueError):
    code = "AlreadyExistsException"


class InvalidInputException(GlueError):
    code = "InvalidInputException"


class ConcurrentRunsExceededException(GlueError):
    code = "ConcurrentRunsExceededException"


class ConcurrentModificationException(GlueError):
    code = "ConcurrentModificationException"


class CrawlerRunningException(GlueError):
    code = "CrawlerRunningException"


class CrawlerNotRunningException(GlueError):
    code = "CrawlerNotRunningException"


class CrawlerStoppingException(GlueError):
    code = "CrawlerStoppingException"


class UnknownOperationException(GlueError):
    """Not one of Glue's operations (the JSON protocol's answer to an unknown X-Amz-Target)."""

    code = "UnknownOperationException"
