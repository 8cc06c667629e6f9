"""`npx cdk synth` with the pinned CLI from infra/package.json, offline, telemetry and notices off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from infra_support import INFRA_DIR

CDK = INFRA_DIR / "node_modules" / ".bin" / "cdk"
# The CLI must not reach the network: proxy every request to a closed port.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npx") is None or not CDK.exists(), reason="run `npm ci` in infra/ first")
def test_cdk_synth_works_offline(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **OFFLINE,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "CDK_DISABLE_VERSION_CHECK": "true",
    }
    command = ["npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", str(tmp_path),
               "--context", "env=ci", "--context", "whitelistip=203.0.113.7/32"]
    run = subprocess.run(command, cwd=INFRA_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    template = json.loads((tmp_path / "s3up-ci.template.json").read_text())
    assert "document-client-upload-ci" in json.dumps(template)
    assert "NotIpAddress" in json.dumps(template["Resources"])
    assert not (INFRA_DIR / "cdk.context.json").exists()
