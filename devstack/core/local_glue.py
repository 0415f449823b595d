"""Raw calls to the local Glue API: its extras beyond Glue's operations (DeleteJobRuns,
FailNextRuns, GetRunProcesses), which boto3 cannot call."""

from __future__ import annotations

import json
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devstack.core import emulator


def call(endpoint: str, region: str, operation: str, body: dict, timeout: float = 30) -> dict:
    """``AWSGlue.{operation}`` with ``body``, signed as any SDK signs (the API refuses unsigned
    calls); the reply as JSON."""
    signed = AWSRequest(
        method="POST",
        url=endpoint,
        data=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": f"AWSGlue.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    credentials = Credentials(emulator.LOCAL_ACCESS_KEY, emulator.LOCAL_SECRET_KEY)
    SigV4Auth(credentials, "glue", region).add_auth(signed)
    request = urllib.request.Request(
        signed.url, data=signed.body, headers=dict(signed.headers.items()), method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read() or b"{}")
