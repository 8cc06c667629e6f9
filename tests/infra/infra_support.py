"""Helpers for the infra tests: synthesis with cdk.json's context, and template look-ups.

Imported by conftest.py after it has set ``JSII_DEPRECATED``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template
from s3up_infra.functions import HANDLERS
from s3up_infra.stack import S3upStack, build

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"

CUSTOM_CONTEXT: Mapping[str, str] = {
    "env": "test",
    "urlExpiry": "3600",
    "functionTimeout": "60",
    "whitelistip": "203.0.113.7/32, 198.51.100.0/24",
    "transferAcceleration": "true",
    "objectExpirationDays": "30",
    "abortIncompleteUploadDays": "2",
    "rateLimitPerToken": "0",
}


@dataclass(frozen=True)
class Synth:
    """One synthesized stack: the assertions view, the raw template and the assembly folder."""

    stack: S3upStack = field(repr=False)
    template: Template = field(repr=False)
    json: dict[str, Any] = field(repr=False)
    outdir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id → resource, for every resource of ``resource_type``."""
        return {
            logical_id: resource
            for logical_id, resource in self.json["Resources"].items()
            if resource["Type"] == resource_type
        }

    def one(self, resource_type: str) -> dict[str, Any]:
        """The properties of the only resource of ``resource_type``."""
        (resource,) = self.resources(resource_type).values()
        return resource["Properties"]

    def bucket_id(self, construct: str) -> str:
        """The logical id of the bucket made by construct ``Storage`` or ``AccessLogs``."""
        (logical_id,) = [b for b in self.resources("AWS::S3::Bucket") if b.startswith(f"{construct}Bucket")]
        return logical_id

    def bucket(self, construct: str) -> dict[str, Any]:
        """The properties of the bucket made by construct ``Storage`` or ``AccessLogs``."""
        return self.json["Resources"][self.bucket_id(construct)]["Properties"]

    def bucket_policy(self, construct: str) -> list[dict[str, Any]]:
        """The statements of the policy of the bucket made by construct ``Storage`` or ``AccessLogs``."""
        wanted = {"Ref": self.bucket_id(construct)}
        (policy,) = [
            p["Properties"]
            for p in self.resources("AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == wanted
        ]
        return policy["PolicyDocument"]["Statement"]

    def function_ids(self) -> dict[str, str]:
        """Handler module name (``initialize``) → the function's logical id."""
        found = {
            resource["Properties"]["Handler"].split(".")[2]: logical_id
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
        }
        assert len(found) == len(HANDLERS)
        return found

    def role_statements(self, module: str) -> list[dict[str, Any]]:
        """Every IAM statement attached to the role of the function for handler ``module``."""
        function = self.json["Resources"][self.function_ids()[module]]
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = self.json["Resources"][role_id]["Properties"]
        statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements


def cdk_json_context() -> dict[str, Any]:
    """The context that ``cdk synth`` reads from infra/cdk.json."""
    return json.loads((INFRA_DIR / "cdk.json").read_text())["context"]


def synth(overrides: Mapping[str, Any], asset_root: Path, outdir: Path) -> Synth:
    """Synthesize the app as ``cdk synth --context ...`` would: cdk.json's context, then ``overrides``."""
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    stack = build(app, asset_root)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(stack=stack, template=Template.from_json(template), json=template, outdir=outdir)


def fake_asset_root(root: Path) -> Path:
    """Lay out a repository with the backend package and the files its asset must not carry."""
    files = [
        "backend/__init__.py",
        "backend/config.py",
        "backend/handlers/__init__.py",
        *(f"backend/handlers/{spec.name}.py" for spec in HANDLERS),
        "backend/handlers/__pycache__/presign.cpython-312.pyc",
        "backend/__pycache__/config.cpython-312.pyc",
        "backend/local/__init__.py",
        "backend/local/gateway.py",
        "backend/tests/test_config.py",
        "backend/.env",
        "app/__init__.py",
        "tests/backend/test_presign.py",
        "infra/node_modules/aws-cdk/package.json",
        "infra/cdk.out/manifest.json",
        ".git/HEAD",
        "README.md",
    ]
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# placeholder\n")
    return root
