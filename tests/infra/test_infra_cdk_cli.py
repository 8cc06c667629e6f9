"""`npx cdk synth` with the pinned CLI from infra/package.json: offline, telemetry and notices off.

The pinned CLI is installed here (`npm ci` in infra/) when it is missing, so that the README's test
command runs this test on a fresh clone as `.ci/run` does; only a machine without npm skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from infra_support import INFRA_DIR

CDK = INFRA_DIR / "node_modules" / ".bin" / "cdk"


def offline_prefix() -> list[str]:
    """Run in a network namespace with no interface up when this machine allows it (root on Linux)."""
    if (
        shutil.which("unshare")
        and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["unshare", "-n", "--"]
    return []


@pytest.fixture(scope="module")
def pinned_cdk() -> Path:
    """The CDK command line from infra/package-lock.json, installed on first use."""
    if shutil.which("npm") is None or shutil.which("npx") is None:
        pytest.skip("Node.js and npm are not installed (apt-get install nodejs npm)")
    if not CDK.exists():
        install = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INFRA_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert install.returncode == 0, f"npm ci in infra/ failed: {install.stderr}"
    return CDK


@pytest.mark.slow
def test_cdk_synth_works_offline(pinned_cdk: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", "CDK_DISABLE_VERSION_CHECK": "true"}
    command = [
        *offline_prefix(),
        *("npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", str(tmp_path)),
        *("--context", "env=ci", "--context", "whitelistip=203.0.113.7/32"),
    ]
    run = subprocess.run(command, cwd=INFRA_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    template = (tmp_path / "s3up-ci.template.json").read_text()
    assert "document-client-upload-ci" in template
    assert "NotIpAddress" in json.dumps(json.loads(template)["Resources"])
