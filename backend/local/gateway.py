"""The API Gateway stand-in: routing, the TOKEN authorizer with its cache, and the gateway answers.

`ApiGateway.handle(call)` takes one HTTP request (no sockets here) and answers as a REST API
stage does (answers in `backend.local.answers`):

- an unknown route or method: 403 `Missing Authentication Token` without an `Authorization`
  header, 403 `IncompleteSignatureException` with one (API Gateway reads it as a bad SigV4 header);
- a protected route without a token: 401, without calling the authorizer;
- the authorizer raises "Unauthorized": 401; raises anything else, times out or answers no valid
  policy: 500 `{"message": null}`; answers a policy that denies the route: 403;
- an authorizer's policy is cached per token for `authorizer_cache_ttl` seconds and reused for
  every route (300 s on the existing deployment, `infra/`'s TTL on this project's stage);
- the function raises, answers a malformed proxy response or runs past its own timeout
  (`function_timeout`, Lambda's): 502; it runs past API Gateway's `integration_timeout` (29 s): 504.

Routes and the authorizer are Lambda-shaped callables `(event, context) -> dict`; tests may swap
an entry of `routes` to inject faults.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from backend.local.answers import MAX_BODY_BYTES, Answer, GatewayAnswers, incomplete_signature, too_large
from backend.local.authcache import AuthorizerCache, Clock
from backend.local.events import HttpCall, LambdaContext, method_arn, proxy_event, token_event
from backend.local.policy import Decision, MalformedAnswerError, evaluate
from backend.logs import redact
from backend.routes import CORE_ROUTES
from backend.tokens import HEADER_PATTERN

log = logging.getLogger(__name__)

LambdaFn = Callable[[Mapping[str, Any], LambdaContext], Any]
INTEGRATION_TIMEOUT = 29.0  # API Gateway's default (and, without a quota raise, largest) wait
EXISTING_CACHE_TTL = 300  # the existing deployment's authorizer cache (API Gateway's default)
EXISTING_FUNCTION_TIMEOUT = 3.0  # the existing deployment's Lambdas (unless functionTimeout was raised)
# What infra/ deploys (tests/backend/test_gateway.py keeps these equal to infra's values).
THIS_PROJECT_CACHE_TTL = 60
AUTHORIZER_FUNCTION_TIMEOUT = 10.0

__all__ = ["MAX_BODY_BYTES", "Answer", "ApiGateway", "LambdaFn"]


@dataclass
class _Invocation:
    answer: Any = None
    error: BaseException | None = None
    timed_out: bool = False


def _header(call: HttpCall, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in call.headers if key.lower() == wanted), None)


def _apigw_id() -> str:
    return base64.b64encode(secrets.token_bytes(11)).decode()[:15] + "="


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0"


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
        integration_timeout: float = INTEGRATION_TIMEOUT,
        authorizer_cache_ttl: float | None = None,
        clock: Clock = time.monotonic,
        identity_validation: re.Pattern[str] | None = None,
    ) -> None:
        """`core_only` answers as the existing deployment: core routes only, `/initialize` alone
        protected, its gateway answers, a 300 s cache and 3 s functions unless told otherwise.
        `function_timeout=None` there means 3 s; elsewhere it means no limit but API Gateway's.
        `identity_validation`: the authorizer's regular expression for the `Authorization` header
        (a header that does not match gets 401 without the authorizer); by default the one
        `infra/` deploys, none on the existing deployment.
        """
        self.routes = routes
        self.authorizer = authorizer
        self.region = region
        self.stage = stage
        self.core_only = core_only
        if function_timeout is None and core_only:
            function_timeout = EXISTING_FUNCTION_TIMEOUT
        self.function_timeout = function_timeout
        self.integration_timeout = integration_timeout
        if authorizer_cache_ttl is None:
            authorizer_cache_ttl = EXISTING_CACHE_TTL if core_only else THIS_PROJECT_CACHE_TTL
        self.cache = AuthorizerCache(authorizer_cache_ttl, clock)
        if identity_validation is None and not core_only:
            identity_validation = HEADER_PATTERN
        self.identity_validation = identity_validation
        self.answers = GatewayAnswers.existing_deployment() if core_only else GatewayAnswers.this_project()
        self._late: list[threading.Thread] = []
        self._late_lock = threading.Lock()

    # ---- request handling ------------------------------------------------------------------
    def exposes(self, resource: str) -> bool:
        """Whether the stage has this route (core-only stages have the core routes alone)."""
        if self.core_only and resource not in CORE_ROUTES:
            return False
        return resource in self.routes

    def protects(self, resource: str) -> bool:
        """Whether the route has the authorizer (only `/initialize` on the existing deployment)."""
        return not self.core_only or resource == "/initialize"

    def handle(self, call: HttpCall) -> Answer:
        """Answer one request to `/<stage><resource>`."""
        answer = self._answer(call)
        answer.headers.setdefault("x-amzn-RequestId", call.request_id)
        answer.headers.setdefault("x-amz-apigw-id", _apigw_id())
        return answer

    def _answer(self, call: HttpCall) -> Answer:
        if len(call.body) > MAX_BODY_BYTES:
            return too_large()
        if call.stage != self.stage or call.method != "POST" or not self.exposes(call.resource):
            authorization = (_header(call, "Authorization") or "").strip()
            return incomplete_signature(authorization) if authorization else self.answers.missing_token()
        if self.protects(call.resource):
            outcome = self._authorize(call)
            if isinstance(outcome, Answer):
                return outcome
            call = replace(call, authorizer=outcome)
        return self._integrate(call)

    def _authorize(self, call: HttpCall) -> dict[str, Any] | Answer:
        """The authorizer context for the call, or the gateway answer that refuses it."""
        token = (_header(call, "Authorization") or "").strip()
        if not token or (self.identity_validation and not self.identity_validation.fullmatch(token)):
            return self.answers.unauthorized()
        arn = method_arn(self.region, self.stage, call.method, call.resource)
        policy = self.cache.get(token)
        if policy is None:
            outcome = self._ask_authorizer(token, arn)
            if isinstance(outcome, Answer):
                return outcome
            policy = outcome
            self.cache.put(token, policy)
        verdict = evaluate(policy, arn)
        if verdict.decision is not Decision.ALLOW:
            return self.answers.denied(explicit=verdict.decision is Decision.EXPLICIT_DENY)
        return {**verdict.context, "principalId": verdict.principal_id}

    def _ask_authorizer(self, token: str, arn: str) -> Any:
        """A valid policy answer from the authorizer, or the gateway answer for its failure."""
        timeout = self.function_timeout or AUTHORIZER_FUNCTION_TIMEOUT
        result = self._invoke(self.authorizer, token_event(token, arn), "authorizer", timeout)
        if result.timed_out:
            return self.answers.authorizer_failed()
        if result.error is not None:  # not cached, as on AWS
            if str(result.error) == "Unauthorized":  # exactly this message means 401
                return self.answers.unauthorized()
            return self.answers.authorizer_failed()
        try:
            evaluate(result.answer, arn)
        except MalformedAnswerError as exc:
            log.warning("authorizer answer rejected: %s", exc)
            return self.answers.authorizer_failed()
        return result.answer

    def _integrate(self, call: HttpCall) -> Answer:
        """Run the route's function on the proxy event and turn its answer into HTTP."""
        function_timeout, gateway_timeout = self.function_timeout, self.integration_timeout
        lambda_limits = function_timeout is not None and function_timeout <= gateway_timeout
        timeout = function_timeout if function_timeout is not None and lambda_limits else gateway_timeout
        function = self.routes[call.resource]
        result = self._invoke(function, proxy_event(call), call.resource.strip("/"), timeout)
        if result.timed_out:  # Lambda's own timeout is a function error; API Gateway's is a 504
            return self.answers.internal_error() if lambda_limits else self.answers.timed_out()
        if result.error is not None:
            return self.answers.internal_error()
        try:
            answer = _proxy_answer(result.answer)
        except ValueError as exc:
            log.error("%s answered a malformed proxy response: %s", call.resource, exc)
            return self.answers.internal_error()
        answer.headers.setdefault("X-Amzn-Trace-Id", _trace_id())
        return answer

    def _invoke(self, function: LambdaFn, event: dict[str, Any], name: str, timeout: float) -> _Invocation:
        """Call a Lambda-shaped function on its own thread, giving up on it after `timeout` s."""
        context = LambdaContext(function_name=name, timeout=self.function_timeout)
        result = _Invocation()

        def run() -> None:
            try:
                result.answer = function(event, context)
            except Exception as exc:
                result.error = exc
                if str(exc) != "Unauthorized":
                    log.error("%s failed: %s", name, redact(repr(exc)), exc_info=exc)

        worker = threading.Thread(target=run, name=f"lambda-{name}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            log.warning("%s ran past its %.1f s timeout", name, timeout)
            with self._late_lock:
                self._late.append(worker)
            return _Invocation(timed_out=True)
        return result

    def close(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for functions still running after their timeout."""
        with self._late_lock:
            late, self._late = self._late, []
        for worker in late:
            worker.join(timeout)


def _proxy_answer(answer: Any) -> Answer:
    """A Lambda proxy answer as HTTP; ValueError when API Gateway would call it malformed."""
    if not isinstance(answer, Mapping):
        raise ValueError("not an object")
    status = answer.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an HTTP status, not {status!r}")
    headers = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    if not isinstance(headers, Mapping) or not isinstance(multi, Mapping):
        raise ValueError("headers and multiValueHeaders must be objects")
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError("body must be a string")
    data = (body or "").encode("utf-8")
    if answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body or "", validate=True)
        except binascii.Error:
            raise ValueError("body is not base64") from None
    merged = {str(k): ", ".join(str(v) for v in values) for k, values in multi.items() if values}
    merged.update({str(k): str(v) for k, v in headers.items()})
    return Answer(status, merged, data)
