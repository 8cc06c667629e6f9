"""Synthesized templates of the CDK app, shared by the infra tests (each synth costs about a second).

``JSII_DEPRECATED=fail`` must be in ``os.environ`` before ``aws_cdk`` is first imported: jsii copies
the environment into the Node.js kernel it starts then, and aws-cdk-lib's deprecation hook reads
``process.env.JSII_DEPRECATED`` there, throwing on any deprecated API instead of printing a warning.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["JSII_DEPRECATED"] = "fail"

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
# Appended, not prepended: infra/app.py must never shadow the repository's `app` package.
if str(INFRA_DIR) not in sys.path:
    sys.path.append(str(INFRA_DIR))

import pytest  # noqa: E402
from infra_support import CUSTOM_CONTEXT, Synth, fake_asset_root, synth  # noqa: E402


@pytest.fixture(scope="session")
def asset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository look-alike: backend/ with handlers, and everything the asset must leave out."""
    return fake_asset_root(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def default_synth(asset_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with cdk.json's context alone (as ``cdk synth`` with no --context)."""
    return synth({}, asset_root, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def custom_synth(asset_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with every option set, as strings (as ``--context key=value`` gives them)."""
    return synth(CUSTOM_CONTEXT, asset_root, tmp_path_factory.mktemp("cdk-custom"))
