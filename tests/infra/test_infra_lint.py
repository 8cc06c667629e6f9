"""cfn-lint on the synthesized templates: no errors and no warnings but one CDK-made one.

Ignored: W3005 (a DependsOn already implied by a GetAtt). CDK adds an explicit DependsOn on each
function's role next to the GetAtt that already orders them; it is redundant, harmless and not ours.
"""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint
from infra_support import Synth

IGNORED_CHECKS = ["W3005"]
# us-east-1 for CloudFront's home, eu-west-1 where the existing deployment runs.
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["default_synth", "custom_synth"])
def test_template_passes_cfn_lint(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    matches = lint(json.dumps(synth.json), config=ManualArgs(regions=REGIONS, ignore_checks=IGNORED_CHECKS))
    assert [str(match) for match in matches] == []
