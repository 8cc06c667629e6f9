"""The API Gateway stand-in: routing, the TOKEN authorizer and the gateway answers of API.md.

`ApiGateway.handle(call)` takes one HTTP request (no sockets here) and answers as the REST API
would: 403 `Missing Authentication Token` for an unknown route or method, 401 for a missing or
refused token, 403 for a Deny policy, 500 `{"message": null}` when the authorizer fails in any
other way, 502 when a handler throws or answers malformed, 504 past `function_timeout`.
Routes and the authorizer are Lambda-shaped callables `(event, context) -> dict`; tests may
swap an entry of `routes` to inject faults.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from backend.apigw import error_body
from backend.local.events import HttpCall, LambdaContext, method_arn, proxy_event, token_event
from backend.local.policy import Decision, MalformedAnswerError, evaluate
from backend.logs import redact

log = logging.getLogger(__name__)

LambdaFn = Callable[[Mapping[str, Any], LambdaContext], Any]
CORE_ROUTES = ("/initialize", "/getPreSignedUrls", "/getPreSignedTAUrls", "/finalize")
EXTENSION_ROUTES = ("/listParts", "/abortUpload", "/session")
MAX_BODY_BYTES = 10 * 1024 * 1024
EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY = "User is not authorized to access this resource"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _json_answer(status: int, payload: Any, error_type: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return Answer(status, headers, json.dumps(payload).encode())


@dataclass
class _Invocation:
    answer: Any = None
    error: BaseException | None = None
    timed_out: bool = False


class ApiGateway:
    """One REST API stage (`prod` by default) over in-process Lambda functions."""

    def __init__(
        self,
        routes: MutableMapping[str, LambdaFn],
        authorizer: LambdaFn,
        *,
        region: str,
        stage: str = "prod",
        core_only: bool = False,
        function_timeout: float | None = None,
    ) -> None:
        self.routes = routes
        self.authorizer = authorizer
        self.region = region
        self.stage = stage
        self.core_only = core_only
        self.function_timeout = function_timeout
        self._late: list[threading.Thread] = []

    # ---- gateway answers -------------------------------------------------------------------
    def _custom(self, status: int, error_type: str, message: str, amzn_type: str) -> Answer:
        """A customised gateway answer (`{"message","statusCode","type"}`) as our deployment has."""
        return _json_answer(status, error_body(status, error_type, message), amzn_type)

    def missing_token(self) -> Answer:
        return _json_answer(
            403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException"
        )

    def unauthorized(self) -> Answer:
        return self._custom(401, "UNAUTHORIZED", "Unauthorized", "UnauthorizedException")

    def too_large(self) -> Answer:
        """The answer to a body over `MAX_BODY_BYTES` (the server sends it without reading the body)."""
        if self.core_only:
            return _json_answer(413, {"message": "Request Too Long"}, "RequestTooLargeException")
        return self._custom(413, "REQUEST_TOO_LARGE", "Request Too Long", "RequestTooLargeException")

    def _denied(self, message: str) -> Answer:
        if self.core_only:
            return _json_answer(403, {"message": message}, "AccessDeniedException")
        return self._custom(403, "ACCESS_DENIED", message, "AccessDeniedException")

    @staticmethod
    def _authorizer_failed() -> Answer:
        return _json_answer(500, {"message": None}, "AuthorizerConfigurationException")

    @staticmethod
    def _internal_error() -> Answer:
        return _json_answer(502, {"message": "Internal server error"}, "InternalServerErrorException")

    @staticmethod
    def _timed_out() -> Answer:
        return _json_answer(504, {"message": "Endpoint request timed out"}, "InternalServerErrorException")

    # ---- request handling ------------------------------------------------------------------
    def exposes(self, resource: str) -> bool:
        """Whether the stage has this route (core-only stages have the core routes alone)."""
        if self.core_only and resource not in CORE_ROUTES:
            return False
        return resource in self.routes

    def handle(self, call: HttpCall) -> Answer:
        """Answer one request to `/<stage><resource>`."""
        if call.stage != self.stage or call.method != "POST" or not self.exposes(call.resource):
            return self.missing_token()
        if not self.core_only or call.resource == "/initialize":
            outcome = self._authorize(call)
            if isinstance(outcome, Answer):
                return outcome
            call = replace(call, authorizer=outcome)
        return self._integrate(call)

    def _authorize(self, call: HttpCall) -> dict[str, Any] | Answer:
        """The authorizer context for the call, or the gateway answer that refuses it."""
        token = next((v for k, v in call.headers if k.lower() == "authorization"), "")
        if not token.strip():
            return self.unauthorized()
        arn = method_arn(self.region, self.stage, call.method, call.resource)
        result = self._invoke(self.authorizer, token_event(token, arn), "authorizer")
        if result.timed_out:
            return self._authorizer_failed()
        if result.error is not None:
            # Only the exact message "Unauthorized" means 401. The existing deployment's
            # authorizer fails otherwise for an unknown token, which core-only mode mimics.
            if str(result.error) == "Unauthorized" and not self.core_only:
                return self.unauthorized()
            return self._authorizer_failed()
        try:
            verdict = evaluate(result.answer, arn)
        except MalformedAnswerError as exc:
            log.warning("authorizer answer rejected: %s", exc)
            return self._authorizer_failed()
        if verdict.decision is Decision.EXPLICIT_DENY:
            return self._denied(EXPLICIT_DENY)
        if verdict.decision is Decision.IMPLICIT_DENY:
            return self._denied(IMPLICIT_DENY)
        return {**verdict.context, "principalId": verdict.principal_id}

    def _integrate(self, call: HttpCall) -> Answer:
        """Run the route's function on the proxy event and turn its answer into HTTP."""
        result = self._invoke(self.routes[call.resource], proxy_event(call), call.resource.strip("/"))
        if result.timed_out:
            return self._timed_out()
        if result.error is not None:
            return self._internal_error()
        try:
            return _proxy_answer(result.answer)
        except ValueError as exc:
            log.error("%s answered a malformed proxy response: %s", call.resource, exc)
            return self._internal_error()

    def _invoke(self, function: LambdaFn, event: dict[str, Any], name: str) -> _Invocation:
        """Call a Lambda-shaped function, on its own thread when there is a timeout to enforce."""
        context = LambdaContext(function_name=name, timeout=self.function_timeout)
        result = _Invocation()

        def run() -> None:
            try:
                result.answer = function(event, context)
            except Exception as exc:
                result.error = exc
                if str(exc) != "Unauthorized":
                    log.error("%s failed: %s", name, redact(repr(exc)), exc_info=exc)

        if self.function_timeout is None:
            run()
            return result
        worker = threading.Thread(target=run, name=f"lambda-{name}", daemon=True)
        worker.start()
        worker.join(self.function_timeout)
        if worker.is_alive():
            log.warning("%s ran past its %.1f s timeout", name, self.function_timeout)
            self._late.append(worker)
            return _Invocation(timed_out=True)
        return result

    def close(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for functions still running after their timeout."""
        for worker in self._late:
            worker.join(timeout)
        self._late = [w for w in self._late if w.is_alive()]


def _proxy_answer(answer: Any) -> Answer:
    """A Lambda proxy answer as HTTP; ValueError when API Gateway would call it malformed."""
    if not isinstance(answer, Mapping):
        raise ValueError("not an object")
    status = answer.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an HTTP status, not {status!r}")
    headers = answer.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ValueError("headers must be an object")
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError("body must be a string")
    data = (body or "").encode("utf-8")
    if answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body or "", validate=True)
        except binascii.Error:
            raise ValueError("body is not base64") from None
    return Answer(status, {str(k): str(v) for k, v in headers.items()}, data)
