"""The Lambda functions: one per handler module of ``backend/handlers``, each with only its own grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3up_infra.config import StackConfig
from s3up_infra.log_groups import log_group

# The asset is the repository's ``backend`` package alone (the runtime provides boto3):
# not the local stack, tests, caches or dotfiles. Glob rules, matched like .gitignore lines.
ASSET_EXCLUDE = (
    "*",
    "!backend",
    "!backend/**",
    "backend/local",
    "**/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.*",
)
API_GATEWAY_TIMEOUT = 29  # seconds a REST API waits for its integration by default

# DynamoDB actions, as backend/stores/dynamodb.py uses them: routes find uploads, client tokens and
# publications with GetItem / BatchGetItem (no Scan); starting bumps the counter (UpdateItem) and puts
# an upload's items in a transaction (PutItem); a single PUT's claim and a finish's claim are
# conditional PutItems, given up with DeleteItem; finish and abort update an upload's items
# (UpdateItem); /listUploads alone queries the indexes.
_GET = "dynamodb:GetItem"
_BATCH_GET = "dynamodb:BatchGetItem"
_PUT = "dynamodb:PutItem"
_UPDATE = "dynamodb:UpdateItem"
_DELETE = "dynamodb:DeleteItem"
_QUERY = "dynamodb:Query"
# S3: CreateMultipartUpload, UploadPart (presigned), CompleteMultipartUpload and PutObject (presigned)
# are s3:PutObject; HeadObject is s3:GetObject (with s3:ListBucket, so that a missing key is a 404,
# not a 403); removing a single PUT that was never finished deletes its version.
_HEAD = ("s3:GetObject",)
_DELETE_OBJECT = ("s3:DeleteObject", "s3:DeleteObjectVersion")


@dataclass(frozen=True)
class HandlerSpec:
    """One Lambda function: its handler module and exactly what it may do."""

    name: str
    object_actions: tuple[str, ...] = ()
    list_bucket: bool = False
    files: tuple[str, ...] = ()
    files_indexes: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    presign: bool = False
    """Signs part URLs: its timeout is the ``functionTimeout`` context value, and it gets more CPU."""
    batch: bool = False
    """Works on up to 100 files per call, 16 calls at a time: more memory, hence more CPU."""
    timeout_seconds: int = API_GATEWAY_TIMEOUT
    """API Gateway stops waiting then: longer would only bill for answers nobody reads."""

    @property
    def handler(self) -> str:
        """The Lambda handler string, ``backend.handlers.<name>.handler``."""
        return f"backend.handlers.{self.name}.handler"

    @property
    def memory_mb(self) -> int:
        return 512 if self.presign or self.batch else 256


_START_FILES = (_GET, _BATCH_GET, _UPDATE, _PUT)
_FINISH_FILES = (_GET, _BATCH_GET, _PUT, _UPDATE, _DELETE)
HANDLERS: tuple[HandlerSpec, ...] = (
    HandlerSpec("authorizer", tokens=(_GET,), timeout_seconds=10),
    HandlerSpec(
        "initialize",
        object_actions=("s3:PutObject", *_HEAD, "s3:AbortMultipartUpload"),
        list_bucket=True,
        files=_START_FILES,
    ),
    HandlerSpec(
        "initialize_batch",
        object_actions=("s3:PutObject", *_HEAD, "s3:AbortMultipartUpload"),
        list_bucket=True,
        files=(*_START_FILES, _DELETE),
        batch=True,
    ),
    HandlerSpec("presign", object_actions=("s3:PutObject",), files=(_GET,), presign=True),
    HandlerSpec("presign_accelerated", object_actions=("s3:PutObject",), files=(_GET,), presign=True),
    HandlerSpec(
        "finalize",
        object_actions=("s3:PutObject", *_HEAD, "s3:ListMultipartUploadParts", *_DELETE_OBJECT),
        list_bucket=True,
        files=_FINISH_FILES,
    ),
    HandlerSpec(
        "finalize_batch",
        object_actions=("s3:PutObject", *_HEAD, "s3:ListMultipartUploadParts", *_DELETE_OBJECT),
        list_bucket=True,
        files=_FINISH_FILES,
        batch=True,
    ),
    HandlerSpec("list_parts", object_actions=("s3:ListMultipartUploadParts",), files=(_GET,)),
    HandlerSpec(
        "abort_upload",
        object_actions=("s3:AbortMultipartUpload", *_HEAD, *_DELETE_OBJECT),
        list_bucket=True,
        files=(_GET, _BATCH_GET, _UPDATE, _DELETE),
    ),
    HandlerSpec("list_uploads", files_indexes=(_QUERY,)),
    HandlerSpec("session"),
)


class Functions(Construct):
    """Creates every handler's function, log group and grants; ``by_name`` maps module name → function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        asset_root: Path,
        bucket: s3.IBucket,
        files: dynamodb.ITable,
        tokens: dynamodb.ITable,
        cdn_base_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        code = lambda_.Code.from_asset(str(asset_root), exclude=list(ASSET_EXCLUDE))
        environment = {
            "BUCKET_NAME": bucket.bucket_name,
            "FILES_TABLE": files.table_name,
            "TOKENS_TABLE": tokens.table_name,
            "URL_EXPIRY": str(config.url_expiry),
            "CDN_BASE_URL": cdn_base_url,
            "PARTS_KEPT_DAYS": str(config.abort_incomplete_upload_days),
        }
        if config.function_timeout > API_GATEWAY_TIMEOUT:
            Annotations.of(self).add_warning_v2(
                "s3up:functionTimeout",
                f"functionTimeout={config.function_timeout} s: API Gateway answers 504 after "
                f"{API_GATEWAY_TIMEOUT} s unless the account's integration timeout quota was raised",
            )
        self.by_name: dict[str, lambda_.Function] = {}
        for spec in HANDLERS:
            function = self._function(spec, code, environment, config)
            _grant(function, spec, bucket, files, tokens)
            self.by_name[spec.name] = function

    def _function(
        self,
        spec: HandlerSpec,
        code: lambda_.Code,
        environment: Mapping[str, str],
        config: StackConfig,
    ) -> lambda_.Function:
        construct_id = spec.name.title().replace("_", "")
        timeout = config.function_timeout if spec.presign else spec.timeout_seconds
        return lambda_.Function(
            self,
            construct_id,
            description=f"s3up {config.env}: {spec.handler}",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            # CPU grows with memory; signing hundreds of URLs in one call wants more of it.
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(timeout),
            environment=dict(environment),
            log_group=log_group(self, f"{construct_id}Logs"),
        )


def _grant(
    function: lambda_.Function,
    spec: HandlerSpec,
    bucket: s3.IBucket,
    files: dynamodb.ITable,
    tokens: dynamodb.ITable,
) -> None:
    statements = []
    if spec.object_actions:
        statements.append(
            iam.PolicyStatement(actions=list(spec.object_actions), resources=[bucket.arn_for_objects("*")])
        )
    if spec.list_bucket:
        statements.append(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
    if spec.files:
        statements.append(iam.PolicyStatement(actions=list(spec.files), resources=[files.table_arn]))
    if spec.files_indexes:
        statements.append(
            iam.PolicyStatement(actions=list(spec.files_indexes), resources=[f"{files.table_arn}/index/*"])
        )
    if spec.tokens:
        statements.append(iam.PolicyStatement(actions=list(spec.tokens), resources=[tokens.table_arn]))
    for statement in statements:
        function.add_to_role_policy(statement)
