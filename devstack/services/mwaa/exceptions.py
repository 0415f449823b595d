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


class RestApiError(ApiError):
    """Airflow answered an error: its status and reply travel with MWAA's error, always HTTP 400
    (MWAA's model marks both kinds the sender's fault)."""

    code = ""

    def __init__(self, status: int, response):
        super().__init__(
            400,
            self.code,
            f"Airflow answered {status}",
            {"RestApiStatusCode": status, "RestApiResponse": response},
        )


class RestApiClientException(RestApiError):
    code = "RestApiClientException"  # Airflow answered 4xx


class RestApiServerException(RestApiError):
    code = "RestApiServerException"  # Airflow answered 5xx


class WebForbidden(ApiError):
    """The web server's own refusal (a CLI or web token that is unknown, used or expired)."""

    def __init__(self, message: str):
        super().__init__(403, "Forbidden", message)
