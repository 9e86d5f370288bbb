"""The emulator's cloud credential services: what the gateway calls to get credentials.

Google: the OAuth 2.0 token endpoint (a service account's JWT bearer grant) and the metadata
server's token endpoint (GCE, GKE, Cloud Run). AWS: the EC2 instance metadata service (IMDSv2),
the ECS / EKS Pod Identity container endpoint and STS AssumeRoleWithWebIdentity. What they
issue is remembered (`tokens`, `aws`), so the Vertex and Bedrock routes can refuse credentials
this emulator never issued, or that expired or were revoked.
"""

from __future__ import annotations

import asyncio
import time

from bordergate.emulator import aws_credentials, google_oauth
from bordergate.emulator.asgi import JSON, NO_STORE, TEXT, XML, Scope, Send, answer, header, plain
from bordergate.emulator.aws_credentials import AwsRoute, CredentialError, CredentialIssuer
from bordergate.emulator.content import auth_fingerprint
from bordergate.emulator.google_oauth import GrantError, TokenIssuer
from bordergate.emulator.recorder import Recorder

_TOKEN = [JSON, NO_STORE]


class CloudAuth:
    """The credential services, recording their requests in the emulator's `recorder`."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.tokens = TokenIssuer()
        self.aws = CredentialIssuer()

    def revoke(self) -> int:
        """Forget every token and credential issued so far (as if revoked); how many."""
        return self.tokens.revoke() + self.aws.revoke()

    async def google_token(self, scope: Scope, raw: bytes, send: Send) -> None:
        """Google's OAuth 2.0 token endpoint: a JWT bearer or refresh-token grant for a token."""
        headers = scope["headers"]
        form = google_oauth.parse_form(raw)
        entry = self.recorder.add(
            scope["method"], scope["path"], headers, google_oauth.recorded_form(form)
        )
        query: bytes = scope.get("query_string", b"")
        try:
            knobs = google_oauth.parse_knobs(query)
            content_type = (header(headers, b"content-type") or b"").decode("latin-1")
            if content_type.partition(";")[0].strip().lower() != google_oauth.FORM_TYPE:
                raise GrantError(
                    "invalid_request", f"Content-Type must be {google_oauth.FORM_TYPE}"
                )
            host = (header(headers, b"host") or b"").decode("latin-1")
            if not host and scope.get("server"):
                host = "{}:{}".format(*scope["server"])
            audiences = google_oauth.token_audiences(scope["scheme"], host, scope["path"], query)
            issuer = google_oauth.check_grant(form, audiences, time.time())
        except GrantError as exc:
            await answer(send, entry, exc.status, exc.body(), _TOKEN)
            return
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.status:
            body = google_oauth.error_status_body(knobs.status)
            await answer(send, entry, knobs.status, body, _TOKEN)
            return
        token = self.tokens.issue(issuer, knobs.expires_in)
        await answer(send, entry, 200, google_oauth.token_body(token, knobs.expires_in), _TOKEN)

    async def metadata_token(self, scope: Scope, send: Send) -> None:
        """The metadata server's access token for the machine's service account (GCE, GKE).

        Like Google's, it answers only requests that carry `Metadata-Flavor: Google` (which a
        browser tricked into calling it cannot set); the token is one the Vertex routes accept.
        """
        entry = self.recorder.add(scope["method"], scope["path"], scope["headers"], None)
        if scope["method"] != "GET":
            await answer(send, entry, 405, b'{"error":"method not allowed"}', [JSON])
            return
        flavor = header(scope["headers"], b"metadata-flavor")
        if flavor is None or flavor.strip().lower() != b"google":
            await answer(send, entry, 403, google_oauth.METADATA_FLAVOR_ERROR, [TEXT])
            return
        lifetime = 3599
        token = self.tokens.issue(google_oauth.METADATA_ACCOUNT, lifetime)
        body = google_oauth.token_body(token, lifetime)
        await answer(send, entry, 200, body, [JSON, (b"metadata-flavor", b"Google")])

    async def imds(self, scope: Scope, route: AwsRoute, send: Send) -> None:
        """EC2 instance metadata, IMDSv2 only: a session token, then the role's credentials."""
        headers = scope["headers"]
        method: str = scope["method"]
        entry = self.recorder.add(method, scope["path"], headers, None)
        if method != ("PUT" if route.service == "imds-token" else "GET"):
            await answer(send, entry, 405, b"Method Not Allowed", [TEXT])
            return
        try:
            if route.service == "imds-token":
                ttl = aws_credentials.imds_ttl(header(headers, aws_credentials.IMDS_TTL_HEADER))
                token = self.aws.open_session(ttl)
                extra = [TEXT, (aws_credentials.IMDS_TTL_HEADER, str(ttl).encode())]
                await answer(send, entry, 200, token.encode(), extra)
                return
            if not self.aws.session_open(header(headers, aws_credentials.IMDS_TOKEN_HEADER)):
                await answer(send, entry, 401, b"", [TEXT])
                return
            if route.service == "imds-roles":
                await answer(send, entry, 200, aws_credentials.ROLE_NAME.encode(), [TEXT])
                return
            if route.rest != aws_credentials.ROLE_NAME:
                await answer(send, entry, 404, b"Not Found", [TEXT])
                return
            lifetime = aws_credentials.lifetime(route, scope.get("query_string", b""))
        except CredentialError as exc:
            await answer(send, entry, exc.status, exc.message.encode(), [TEXT])
            return
        body = aws_credentials.imds_body(self.aws.issue(lifetime))
        await answer(send, entry, 200, body, [JSON])

    async def container(self, scope: Scope, route: AwsRoute, send: Send) -> None:
        """The ECS / EKS Pod Identity container credentials endpoint."""
        headers = scope["headers"]
        method: str = scope["method"]
        entry = self.recorder.add(method, scope["path"], headers, None)
        error = aws_credentials.container_error
        if method != "GET":
            body = error("MethodNotAllowed", f"{method} is not allowed; use GET")
            await answer(send, entry, 405, body, [JSON])
            return
        authorization = header(headers, b"authorization")
        if authorization is not None and not authorization.strip():
            body = error("Unauthorized", "The Authorization header must not be empty.")
            await answer(send, entry, 401, body, [JSON])
            return
        if route.rest == aws_credentials.FORBIDDEN_CONTAINER_ID:
            body = error(
                "AccessDenied",
                f"emulator: credentials for id {aws_credentials.FORBIDDEN_CONTAINER_ID!r} "
                "are always refused",
            )
            await answer(send, entry, 403, body, [JSON])
            return
        try:
            lifetime = aws_credentials.lifetime(route, scope.get("query_string", b""))
        except CredentialError as exc:
            await answer(send, entry, 400, error("InvalidParameter", exc.message), [JSON])
            return
        body = aws_credentials.container_body(self.aws.issue(lifetime))
        await answer(send, entry, 200, body, [JSON])

    async def sts(self, scope: Scope, route: AwsRoute, raw: bytes, send: Send) -> None:
        """STS AssumeRoleWithWebIdentity, in the query protocol (a form POST or a GET).

        Anything else addressed to ``/`` is not found, as before STS was emulated.
        """
        headers = scope["headers"]
        method: str = scope["method"]
        content_type = (header(headers, b"content-type") or b"").decode("latin-1")
        is_form = content_type.partition(";")[0].strip().lower() == aws_credentials.FORM_TYPE
        form = raw if method == "POST" and is_form else None
        params = aws_credentials.sts_params(scope.get("query_string", b""), form)
        if method not in ("GET", "POST") or not aws_credentials.is_sts_call(params):
            await plain(send, 404, b'{"error":"not found"}')
            return
        recorded = aws_credentials.redacted(params, auth_fingerprint)
        entry = self.recorder.add(method, scope["path"], headers, recorded)
        rid = aws_credentials.request_id()
        extra = [XML, (b"x-amzn-requestid", rid.encode())]
        try:
            assumption = aws_credentials.check_assumption(params)
            lifetime = assumption.duration or aws_credentials.lifetime(route, b"")
        except CredentialError as exc:
            await answer(send, entry, exc.status, aws_credentials.sts_error_body(exc, rid), extra)
            return
        body = aws_credentials.sts_body(assumption, self.aws.issue(lifetime), rid)
        await answer(send, entry, 200, body, extra)
