"""Evaluate a TOKEN authorizer's answer as API Gateway does: explicit Deny wins, then Allow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


class MalformedAnswerError(ValueError):
    """The authorizer's answer is not a valid policy (API Gateway: AuthorizerConfigurationException)."""


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    principal_id: str
    context: dict[str, Any]


def _as_list(value: Any, what: str) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str | dict) for item in items):
        raise MalformedAnswerError(f"{what} must be a string, an object or a list of them")
    return items


def _matches(pattern: str, value: str) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value) is not None


def _covers(statement: Mapping[str, Any], method_arn: str) -> bool:
    actions = _as_list(statement.get("Action"), "Action")
    resources = _as_list(statement.get("Resource"), "Resource")
    acts = any(isinstance(a, str) and _matches(a, "execute-api:Invoke") for a in actions)
    return acts and any(isinstance(r, str) and _matches(r, method_arn) for r in resources)


def evaluate(answer: Any, method_arn: str) -> Verdict:
    """The decision for `method_arn`; raises `MalformedAnswerError` for an answer API Gateway rejects."""
    if not isinstance(answer, Mapping):
        raise MalformedAnswerError("the authorizer did not answer an object")
    principal = answer.get("principalId")
    document = answer.get("policyDocument")
    if not isinstance(principal, str) or not isinstance(document, Mapping):
        raise MalformedAnswerError("the answer needs a string principalId and a policyDocument")
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, Mapping) else statements
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
        raise MalformedAnswerError("policyDocument.Statement must be a list of statements")
    context = answer.get("context") or {}
    if not isinstance(context, Mapping) or not all(
        isinstance(v, str | int | float | bool) for v in context.values()
    ):
        raise MalformedAnswerError("context values must be strings, numbers or booleans")
    effects = set()
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise MalformedAnswerError(f"Effect must be Allow or Deny, not {effect!r}")
        if _covers(statement, method_arn):
            effects.add(effect)
    decision = (
        Decision.EXPLICIT_DENY
        if "Deny" in effects
        else Decision.ALLOW
        if "Allow" in effects
        else Decision.IMPLICIT_DENY
    )
    return Verdict(decision, principal, dict(context))
