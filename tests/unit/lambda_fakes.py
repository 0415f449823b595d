"""In-memory stand-ins for the Lambda's MWAA client and file ledger (unit tests only; the stack
tests use the real ones)."""

from botocore.exceptions import ClientError


class FakeMwaa:
    def __init__(self, statuses=None):
        self.calls = []
        self.statuses = statuses or {}
        self.existing = set()

    def invoke_rest_api(self, **kwargs):
        self.calls.append(kwargs)
        run_id = kwargs["Body"]["dag_run_id"]
        status = self.statuses.get(run_id, 409 if run_id in self.existing else 200)
        self.existing.add(run_id)
        if status >= 400:
            raise ClientError(
                {
                    "Error": {"Code": "RestApiClientException", "Message": "x"},
                    "RestApiStatusCode": status,
                    "RestApiResponse": {"detail": "boom"},
                },
                "InvokeRestApi",
            )
        return {"RestApiStatusCode": status, "RestApiResponse": {"dag_run_id": run_id}}

    def create_cli_token(self, Name):
        return {"CliToken": "token", "WebServerHostname": "mwaa.example"}


class FakeLedger:
    """The ledger's recording and run flag, in memory (the real one is tested on DynamoDB)."""

    def __init__(self, table=None):
        self.items, self.flag = {}, None

    def record(self, version, state, reason=None, recorded_by=None):
        if version.file_id in self.items:
            return False
        self.items[version.file_id] = {"state": state, "reason": reason}
        if recorded_by:
            self.items[version.file_id]["recorded_by"] = recorded_by
        return True

    def request_run(self, run_id, stale_after_seconds):
        if self.flag:
            return False
        self.flag = run_id
        return True

    def release_run_request(self, run_id=None):
        if run_id in (None, self.flag):
            self.flag = None


def patch_lambda_clients(patch, handler, ledger: FakeLedger) -> None:
    """Points the Lambda module's ledger, DynamoDB resource and metrics at in-memory fakes."""
    patch.setattr(handler.file_ledger, "Ledger", lambda table: ledger)
    patch.setattr(
        handler.boto3,
        "resource",
        lambda *a, **k: type("R", (), {"Table": lambda self, name: name})(),
    )
    patch.setattr(handler, "put_ignored_metric", lambda region, count: None)
    patch.setenv("FILE_LEDGER_TABLE", "ledger")
