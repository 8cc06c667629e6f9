"""The Lambda functions: one per handler module, their settings, logs, asset and least-privilege grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from infra_support import Synth
from s3up_infra.functions import HANDLERS

REPO_HANDLERS = Path(__file__).resolve().parents[2] / "backend" / "handlers"
BUCKET = "StorageBucket5CB7C8EA"
OBJECTS = {"Fn::Join": ["", [{"Fn::GetAtt": [BUCKET, "Arn"]}, "/*"]]}

BUCKET_ARN = {"Fn::GetAtt": [BUCKET, "Arn"]}
HEAD = {"s3:GetObject": OBJECTS, "s3:ListBucket": BUCKET_ARN}
DELETE_OBJECT = {"s3:DeleteObject": OBJECTS, "s3:DeleteObjectVersion": OBJECTS}
START = {
    "s3:PutObject": OBJECTS,
    "s3:AbortMultipartUpload": OBJECTS,
    **HEAD,
    "dynamodb:GetItem": "Files",
    "dynamodb:BatchGetItem": "Files",
    "dynamodb:UpdateItem": "Files",
    "dynamodb:PutItem": "Files",
}
FINISH = {
    "s3:PutObject": OBJECTS,
    "s3:ListMultipartUploadParts": OBJECTS,
    **HEAD,
    **DELETE_OBJECT,
    "dynamodb:GetItem": "Files",
    "dynamodb:BatchGetItem": "Files",
    "dynamodb:PutItem": "Files",
    "dynamodb:UpdateItem": "Files",
    "dynamodb:DeleteItem": "Files",
}
# handler module → {action: resource the action is granted on}; anything else is too much.
EXPECTED_GRANTS: dict[str, dict[str, Any]] = {
    "authorizer": {"dynamodb:GetItem": "Tokens"},
    "initialize": START,
    "initialize_batch": {**START, "dynamodb:DeleteItem": "Files"},
    "presign": {"s3:PutObject": OBJECTS, "dynamodb:GetItem": "Files"},
    "presign_accelerated": {"s3:PutObject": OBJECTS, "dynamodb:GetItem": "Files"},
    "finalize": FINISH,
    "finalize_batch": FINISH,
    "list_parts": {"s3:ListMultipartUploadParts": OBJECTS, "dynamodb:GetItem": "Files"},
    "abort_upload": {
        "s3:AbortMultipartUpload": OBJECTS,
        **HEAD,
        **DELETE_OBJECT,
        "dynamodb:GetItem": "Files",
        "dynamodb:BatchGetItem": "Files",
        "dynamodb:UpdateItem": "Files",
        "dynamodb:DeleteItem": "Files",
    },
    "list_uploads": {"dynamodb:Query": "Files indexes"},
    "session": {},
}


def granted(synth: Synth, module: str) -> dict[str, Any]:
    """action → resource over every Allow on the function's role (tables shown by construct name)."""
    tables = {
        logical_id: resource["Properties"]["TableName"]
        for logical_id, resource in synth.resources("AWS::DynamoDB::Table").items()
    }
    table_names = {"Files-dev": "Files", "UploadTokens-dev": "Tokens"}
    grants: dict[str, Any] = {}
    for statement in synth.role_statements(module):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resource = statement["Resource"]
        if isinstance(resource, dict) and "Fn::GetAtt" in resource and resource["Fn::GetAtt"][0] in tables:
            resource = table_names[tables[resource["Fn::GetAtt"][0]]]
        elif isinstance(resource, dict) and "Fn::Join" in resource:
            parts = resource["Fn::Join"][1]
            if parts[-1] == "/index/*" and parts[0]["Fn::GetAtt"][0] in tables:
                resource = table_names[tables[parts[0]["Fn::GetAtt"][0]]] + " indexes"
        for action in actions:
            assert action not in grants, f"{module}: {action} granted twice"
            grants[action] = resource
    return grants


def test_every_contract_handler_has_a_python_312_function(default_synth: Synth) -> None:
    functions = default_synth.resources("AWS::Lambda::Function").values()
    handlers = {f["Properties"]["Handler"] for f in functions}
    assert handlers == {f"backend.handlers.{name}.handler" for name in EXPECTED_GRANTS}
    assert {f["Properties"]["Runtime"] for f in functions} == {"python3.12"}


@pytest.mark.skipif(not REPO_HANDLERS.is_dir(), reason="backend/handlers is not in this checkout")
def test_every_handler_module_in_the_repository_is_deployed() -> None:
    modules = {p.stem for p in REPO_HANDLERS.glob("*.py") if not p.stem.startswith("_")}
    assert modules <= {spec.name for spec in HANDLERS}


@pytest.mark.parametrize("module", sorted(EXPECTED_GRANTS))
def test_each_function_holds_only_its_own_grants(default_synth: Synth, module: str) -> None:
    assert granted(default_synth, module) == EXPECTED_GRANTS[module]


def environment(synth: Synth, module: str) -> dict[str, Any]:
    function = synth.json["Resources"][synth.function_ids()[module]]
    return function["Properties"]["Environment"]["Variables"]


def test_environment_follows_the_backend_contract(default_synth: Synth) -> None:
    for module in EXPECTED_GRANTS:
        variables = environment(default_synth, module)
        assert variables["BUCKET_NAME"] == {"Ref": BUCKET}
        assert variables["URL_EXPIRY"] == "300"
        assert set(variables) == {
            "BUCKET_NAME",
            "FILES_TABLE",
            "TOKENS_TABLE",
            "URL_EXPIRY",
            "CDN_BASE_URL",
            "PARTS_KEPT_DAYS",
        }
        assert variables["PARTS_KEPT_DAYS"] == "7"  # the bucket's abortIncompleteUploadDays
    cdn = next(iter(default_synth.resources("AWS::CloudFront::Distribution")))
    assert environment(default_synth, "finalize")["CDN_BASE_URL"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [cdn, "DomainName"]}]]
    }


def timeouts(synth: Synth) -> dict[str, int]:
    ids = synth.function_ids()
    return {module: synth.json["Resources"][ids[module]]["Properties"]["Timeout"] for module in ids}


def test_function_timeout_applies_to_the_presign_functions(default_synth: Synth, custom_synth: Synth) -> None:
    assert timeouts(default_synth) == {**dict.fromkeys(EXPECTED_GRANTS, 29), "authorizer": 10}
    custom = timeouts(custom_synth)
    assert (custom["presign"], custom["presign_accelerated"]) == (60, 60)
    assert custom["finalize"] == 29
    assert environment(custom_synth, "presign")["URL_EXPIRY"] == "3600"
    assert environment(custom_synth, "list_uploads")["PARTS_KEPT_DAYS"] == "2"


def test_batch_and_presign_functions_get_more_memory(default_synth: Synth) -> None:
    ids = default_synth.function_ids()
    memory = {
        module: default_synth.json["Resources"][ids[module]]["Properties"]["MemorySize"] for module in ids
    }
    roomy = {"presign", "presign_accelerated", "initialize_batch", "finalize_batch"}
    assert memory == {module: 512 if module in roomy else 256 for module in ids}


def test_each_function_logs_to_its_own_group_with_retention(default_synth: Synth) -> None:
    groups = default_synth.resources("AWS::Logs::LogGroup")
    used = [
        f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for f in default_synth.resources("AWS::Lambda::Function").values()
    ]
    assert len(set(used)) == len(HANDLERS)
    assert all(groups[g]["Properties"]["RetentionInDays"] == 30 for g in used)
    default_synth.template.resource_count_is("Custom::LogRetention", 0)


def test_asset_is_the_backend_package_alone(default_synth: Synth) -> None:
    (asset,) = default_synth.outdir.glob("asset.*")
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files == sorted(
        ["backend/__init__.py", "backend/config.py", "backend/handlers/__init__.py"]
        + [f"backend/handlers/{spec.name}.py" for spec in HANDLERS]
    )
