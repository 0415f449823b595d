"""MiniStack with two private endpoints that let the stack's own APIs (Glue, Athena, MWAA) treat
the credentials MiniStack issued as AWS treats them. Runs in MiniStack's virtual environment, on its
interpreter (standard library and ``ministack`` only), in place of the ``ministack`` command:

    .venv-ministack/bin/python devstack/services/emulator_identity.py

``POST /_devstack/identity/verify`` {AccessKeyId, SessionToken, Date, Region, Service, StringToSign,
Signature}: is this SigV4 signature the one the holder of that key makes? Root keys, IAM user keys
and STS sessions (their token must be the one issued, the session unexpired) are known. The answer
names the principal ({Arn, Account, Type}) and never the secret.

``POST /_devstack/identity/authorize`` {AccessKeyId, Checks: [{Action, Resource}], Record}: the
decision (Allow, Deny, ImplicitDeny) of the key's principal's identity policies for each check, by
MiniStack's IAM evaluator (explicit deny, allow, wildcards, NotAction/NotResource, permissions
boundaries and session policies). Root is allowed everything, as in AWS. ``Record`` "first-allowed"
records the first check allowed, or the last one if none is (MWAA's role mapping: the role acted as).

``POST /_devstack/identity/authorize-request`` {AccessKeyId, Service, Method, Path, Headers, Body
(base64), Region}: a local API's request (Glue, Athena, MWAA) authorized as MiniStack authorizes its
own, with its IAM action and resource from MiniStack's mapping of requests to actions.

All three listen where MiniStack listens (loopback unless configured) and refuse a request from a web
page.

STS sessions outlive a restart, as AWS's do: MiniStack keeps them in memory only, so with
``PERSIST_STATE`` each one it issues is also written (owner-only) beside its state and read back at
start (``SessionStore``); a Glue run or an Airflow task holding one keeps working.

With ``DEVSTACK_IAM_MODE`` set (``audit`` or ``enforce``) MiniStack runs with ``AUTH=true`` (every
signature verified; a Lambda acts with its execution role's session) and every authorization of a
principal other than the root, its own and the local APIs', is written as one JSON line to
``DEVSTACK_IAM_AUDIT_LOG`` (principal, action, resource, condition keys, decision). ``audit`` lets
a call AWS would deny go through, ``enforce`` answers it with AccessDenied as AWS does.

A read of an object that does not exist (GetObject, HeadObject, GetObjectAttributes) needs
``s3:ListBucket`` on the bucket as well: S3 answers 404 only to a caller allowed to list the bucket,
403 AccessDenied to others (the operations' reference pages). MiniStack answers 404 to anyone, so
such a 404 is checked, recorded and, when enforcing, answered as AWS answers it.
"""

from __future__ import annotations

import base64
import contextvars
import hmac
import json
import os
import threading
import urllib.parse
from pathlib import Path

from ministack import app as ministack_app
from ministack.core import iam_actions, iam_evaluator, sigv4
from ministack.core.iam_actions import access_denied_response
from ministack.core.responses import get_account_id

PREFIX = "/_devstack/identity/"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a local API's request (5 MiB at most) in base64
# CloudWatch's service id in its RPC paths and targets (CBOR, JSON and query protocols)
CLOUDWATCH_SERVICE = "GraniteServiceVersion20100801"
# The body of the CloudWatch request being served, kept for the condition key MiniStack omits
_cloudwatch_body: contextvars.ContextVar[tuple[str, list[bytes]] | None] = contextvars.ContextVar(
    "devstack_cloudwatch_body", default=None
)
# The IAM actions of reading one object: a 404 to any of them also needs s3:ListBucket
OBJECT_READS = frozenset(
    {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
    }
)
# The object read being served ({key, region, bucket}), filled by the first check of the request
_object_read: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "devstack_object_read", default=None
)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def credential(access_key_id: str, session_token: str | None):
    found = iam_evaluator.resolve_credential(access_key_id, get_account_id(), session_token or None)
    if isinstance(found, iam_evaluator.CredentialResolutionError):
        raise Refused(403, found.code, found.message)
    return found


def verify(request: dict) -> dict:
    found = credential(request["AccessKeyId"], request.get("SessionToken"))
    expected = sigv4.calculate_signature(
        found.secret_access_key,
        request["Date"],
        request["Region"],
        request["Service"],
        request["StringToSign"],
    )
    if not hmac.compare_digest(expected, request["Signature"]):
        raise Refused(403, "InvalidSignatureException", sigv4.SIGNATURE_MISMATCH)
    return {"Arn": found.principal_arn, "Account": found.account_id, "Type": found.principal_type}


def authorize(request: dict) -> dict:
    access_key_id = request["AccessKeyId"]
    principal = iam_evaluator.resolve_principal(access_key_id, get_account_id())
    if isinstance(principal, iam_evaluator.AuthError):
        raise Refused(403, principal.code, principal.message)
    results = []
    for check in request["Checks"]:
        if principal.policies is None:  # the account's root
            results.append("Allow")
            continue
        context = iam_evaluator.EvalContext(
            principal_arn=principal.arn,
            principal_type=principal.type,
            principal_account=principal.account,
            action=check["Action"],
            resource_arn=check["Resource"],
            region=request.get("Region", ""),
            principal_keys=principal.keys,
        )
        results.append(
            iam_evaluator.evaluate(context, principal.policies, *principal.limits).decision
        )
    if request.get("Record") == "first-allowed" and results:
        chosen = results.index("Allow") if "Allow" in results else len(results) - 1
        check = request["Checks"][chosen]
        RECORDER.record(access_key_id, check["Action"], check["Resource"], {}, results[chosen])
    return {"Arn": principal.arn, "Results": results, "Enforcing": RECORDER.enforcing}


class Recorder:
    """Writes each authorization of a non-root principal as a JSON line; says whether denials are
    enforced."""

    def __init__(self, path: Path | None, enforcing: bool):
        self.enforcing = enforcing
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._out = path.open("a", buffering=1) if path else None
        self._lock = threading.Lock()

    def record(self, access_key_id: str, action: str, resource: str, context, decision: str):
        if self._out is None:
            return
        found = iam_evaluator.resolve_credential(access_key_id or "", get_account_id())
        if isinstance(found, iam_evaluator.CredentialResolutionError):
            return
        if found.principal_type == "Root":
            return  # the stack's own tooling, not a component acting as its role
        line = json.dumps(
            {
                "principal": found.principal_arn,
                "action": action,
                "resource": resource,
                "context": context or {},
                "decision": decision,
            },
            default=str,
        )
        with self._lock:
            self._out.write(line + "\n")


RECORDER = Recorder(None, False)


class SessionStore:
    """MiniStack's STS sessions, written at each issue and read back at start."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def load(self, sessions: dict) -> None:
        if self.path.exists():
            sessions.update(json.loads(self.path.read_text()))

    def save(self, sessions: dict) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(sessions, out, default=str)
            partial.replace(self.path)

    def keep(self, sts) -> None:
        """Loads the saved sessions into MiniStack's STS and saves each one it issues."""
        self.load(sts._sessions)
        register = sts.register_session

        def register_and_save(access_key: str, session: dict) -> None:
            register(access_key, session)
            self.save(sts._sessions)

        sts.register_session = register_and_save


def metric_namespace(content_type: str, body: bytes) -> str | None:
    """PutMetricData's Namespace, whichever protocol carried it (CBOR, JSON or query)."""
    try:
        if "cbor" in content_type:
            import cbor2  # MiniStack's own dependency

            return (cbor2.loads(body) or {}).get("Namespace")
        if "json" in content_type:
            return json.loads(body or b"{}").get("Namespace")
        return (urllib.parse.parse_qs(body.decode()).get("Namespace") or [None])[0]
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def with_namespace(iam_action: str, service_context: dict | None) -> dict | None:
    """The context with ``cloudwatch:namespace``, which AWS sets for PutMetricData and MiniStack
    does not (a template's namespace condition would otherwise never match)."""
    captured = _cloudwatch_body.get()
    if iam_action != "cloudwatch:PutMetricData" or captured is None:
        return service_context
    namespace = metric_namespace(captured[0], b"".join(captured[1]))
    if namespace is None:
        return service_context
    return {**(service_context or {}), "cloudwatch:namespace": namespace}


def recording(enforce):
    """MiniStack's ``enforce`` with each decision recorded; in audit mode a denial is let through."""

    def checked(access_key_id, iam_action, service, region, resource_arn="*", service_context=None):
        service_context = with_namespace(iam_action, service_context)
        note_object_read(access_key_id, iam_action, service, region, resource_arn)
        result = enforce(access_key_id, iam_action, service, region, resource_arn, service_context)
        if isinstance(result, iam_evaluator.AuthError):
            return result  # authentication is never waived
        decision = "Allow" if result is None else result.decision
        RECORDER.record(access_key_id, iam_action, resource_arn, service_context, decision)
        return result if RECORDER.enforcing else None

    return checked


def note_object_read(access_key_id, iam_action: str, service: str, region: str, resource_arn: str):
    """Remembers the request's object read (its first check only: a copy's source is not one)."""
    read = _object_read.get()
    if read is None or read.get("checked") or service != "s3":
        return
    read["checked"] = True
    bucket, slash, _key = resource_arn.partition("/")
    if iam_action in OBJECT_READS and slash:
        read.update(key=access_key_id or "", region=region, bucket=bucket)


def missing_object_refusal(read: dict, method: str) -> tuple | None:
    """The answer S3 gives instead of 404 to a caller not allowed s3:ListBucket on the bucket (None
    when allowed, or when only auditing: the check is recorded either way)."""
    denied = iam_evaluator.enforce(
        read["key"], "s3:ListBucket", "s3", read["region"], read["bucket"]
    )
    if denied is None or isinstance(denied, iam_evaluator.AuthError):
        return None
    found = iam_evaluator.resolve_credential(read["key"], get_account_id())
    status, headers, body = access_denied_response(
        "s3",
        "s3:ListBucket",
        getattr(found, "principal_arn", ""),
        os.urandom(8).hex().upper(),
        resource_arn=read["bucket"],
    )
    return status, headers, b"" if method == "HEAD" else body


def with_missing_object_check(inner):
    """Serves S3's object reads so that a 404 is the answer only a caller allowed to list the
    bucket gets (``missing_object_refusal``)."""

    async def app(scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
            await inner(scope, receive, send)
            return
        read: dict = {}
        token = _object_read.set(read)
        replaced = False

        async def checked_send(message):
            nonlocal replaced
            if (
                message["type"] == "http.response.start"
                and message["status"] == 404
                and "key" in read
            ):
                refusal = missing_object_refusal(read, scope["method"])
                if refusal is not None:
                    replaced = True
                    status, headers, body = refusal
                    await _send_whole(send, status, headers, body)
                    return
            if not replaced:
                await send(message)

        try:
            await inner(scope, receive, checked_send)
        finally:
            _object_read.reset(token)

    return app


async def _send_whole(send, status: int, headers: dict, body: bytes) -> None:
    fields = [
        (k.lower().encode(), str(v).encode())
        for k, v in headers.items()
        if k.lower() != "content-length"
    ]
    fields.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": body})


def authorize_request(request: dict) -> dict:
    service, method, path = request["Service"], request["Method"], request["Path"]
    headers = {k.lower(): v for k, v in request.get("Headers", {}).items()}
    body = base64.b64decode(request.get("Body", ""))
    region, account = request.get("Region", ""), get_account_id()
    action = iam_actions.extract_iam_action(service, method, path, headers, body, {})
    if action is None:
        return {"Decision": "Allow", "Enforcing": RECORDER.enforcing}
    resource = iam_actions.extract_resource_arn(
        service, method, path, headers, body, {}, region, account
    )
    denied = iam_evaluator.enforce(request["AccessKeyId"], action, service, region, resource)
    if isinstance(denied, iam_evaluator.AuthError):
        raise Refused(403, denied.code, denied.message)
    return {
        "Decision": "Allow" if denied is None else denied.decision,
        "Action": action,
        "Resource": resource,
        "Enforcing": RECORDER.enforcing,
    }


ROUTES = {"verify": verify, "authorize": authorize, "authorize-request": authorize_request}


async def _read(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, "RequestEntityTooLargeException", "identity request over 64 KiB")
        if not message.get("more_body"):
            return body


async def _reply(send, status: int, document: dict) -> None:
    await _send_whole(
        send, status, {"content-type": "application/json"}, json.dumps(document).encode()
    )


def with_identity_endpoints(inner):
    async def app(scope, receive, send):
        if scope.get("type") != "http" or not scope.get("path", "").startswith(PREFIX):
            headers = dict(scope.get("headers", []))
            target = headers.get(b"x-amz-target", b"").decode(errors="replace")
            if CLOUDWATCH_SERVICE in scope.get("path", "") + target or (
                scope.get("path") == "/" and b"form-urlencoded" in headers.get(b"content-type", b"")
            ):
                chunks: list[bytes] = []
                _cloudwatch_body.set((headers.get(b"content-type", b"").decode(), chunks))
                original = receive

                async def receive():
                    message = await original()
                    chunks.append(message.get("body", b""))
                    return message

            await inner(scope, receive, send)
            return
        route = ROUTES.get(scope["path"][len(PREFIX) :])
        browser = any(
            name == b"origin" or name.startswith(b"sec-fetch-") for name, _ in scope["headers"]
        )
        try:
            if route is None or scope["method"] != "POST":
                raise Refused(404, "ResourceNotFoundException", f"no route {scope['path']}")
            if browser:
                raise Refused(403, "AccessDeniedException", "requests from web pages are refused")
            await _reply(send, 200, route(json.loads(await _read(receive) or b"{}")))
        except Refused as refused:
            await _reply(send, refused.status, {"__type": refused.code, "message": refused.message})
        except (KeyError, TypeError, ValueError) as exc:
            await _reply(send, 400, {"__type": "ValidationException", "message": repr(exc)})

    return app


def main() -> None:
    if os.environ.get("PERSIST_STATE") == "1" and os.environ.get("STATE_DIR"):
        from ministack.services import sts

        SessionStore(Path(os.environ["STATE_DIR"]) / "devstack-sts-sessions.json").keep(sts)
    mode = os.environ.get("DEVSTACK_IAM_MODE", "")
    if mode:
        if mode not in ("audit", "enforce"):
            raise SystemExit(f"DEVSTACK_IAM_MODE must be audit or enforce, not {mode!r}")
        audit_log = os.environ.get("DEVSTACK_IAM_AUDIT_LOG")
        global RECORDER
        RECORDER = Recorder(Path(audit_log) if audit_log else None, mode == "enforce")
        iam_evaluator.enforce = recording(iam_evaluator.enforce)
        ministack_app.AUTH = True
        ministack_app.app = with_missing_object_check(ministack_app.app)
    # ministack.app.main serves the module's ``app``: serve it with the endpoints in front.
    ministack_app.app = with_identity_endpoints(ministack_app.app)
    ministack_app.main()


if __name__ == "__main__":
    main()
