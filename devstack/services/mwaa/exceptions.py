"""MWAA's errors, one class per error code the local MWAA API answers, with the HTTP status and
message member botocore's model of MWAA gives each."""

from __future__ import annotations

from devstack.services.http_api import ApiError


class AccessDeniedException(ApiError):
    message_key = "Message"  # MWAA's model names this one's member with a capital M

    def __init__(self, message: str):
        super().__init__(403, "AccessDeniedException", message)


class ResourceNotFoundException(ApiError):
    def __init__(self, message: str):
        super().__init__(404, "ResourceNotFoundException", message)


class ValidationException(ApiError):
    def __init__(self, message: str):
        super().__init__(400, "ValidationException", message)


class RestApiClientException(ApiError):
    """Airflow answered 4xx: its status and reply travel with the error (HTTP 400, as MWAA)."""

    def __init__(self, status: int, response):
        super().__init__(
            400,
            "RestApiClientException",
            f"Airflow answered {status}",
            {"RestApiStatusCode": status, "RestApiResponse": response},
        )


class RestApiServerException(ApiError):
    """Airflow answered 5xx (HTTP 400 too: MWAA's model marks it the sender's fault)."""

    def __init__(self, status: int, response):
        super().__init__(
            400,
            "RestApiServerException",
            f"Airflow answered {status}",
            {"RestApiStatusCode": status, "RestApiResponse": response},
        )


class WebForbidden(ApiError):
    """The web server's own refusal (a CLI or web token that is unknown, used or expired)."""

    def __init__(self, message: str):
        super().__init__(403, "Forbidden", message)
