"""The Jenkins step jenkins/vars/berthDeploy.groovy, as far as it can be tested without a
Jenkins: its shell command as text, and that command run by a shell with hostile values."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from app import ROOT

STEP = ROOT / "jenkins" / "vars" / "berthDeploy.groovy"


def _script() -> str:
    """The `script:` of the step's sh call: a single-quoted Groovy string."""
    found = re.findall(r"\bsh\((.*)\)\s*$", STEP.read_text(), flags=re.MULTILINE)
    assert len(found) == 1, found
    literal = re.search(r"script:\s*'([^'\\]*)'", found[0])
    assert literal, f"the script must be a single-quoted Groovy string: {found[0]}"
    return literal.group(1)


def test_the_step_runs_berth_deploy_wait_with_its_values_from_the_environment() -> None:
    text = STEP.read_text()
    script = _script()
    assert script.startswith("berth deploy ") and "--wait" in script
    assert '"$BERTH_SERVICE" "$BERTH_ENVIRONMENT" "$BERTH_IMAGE"' in script
    assert '--timeout "$BERTH_DEPLOY_TIMEOUT"' in script
    assert "${" not in script  # Groovy interpolates nothing into the command line
    assert "returnStatus: true" in text
    assert "string(credentialsId: credentialsId, variable: 'BERTH_TOKEN')" in text
    assert "withCredentials(" in text and "BERTH_TOKEN" not in script  # berth reads the env
    for code in ("case 0:", "case 1:", "case 2:", "case 3:", "default:"):
        assert code in text


def test_the_shell_passes_hostile_values_through_untouched(tmp_path: Path) -> None:
    """A fake `berth` prints its arguments: each value arrives as one argument, as given."""
    fake = tmp_path / "berth"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    values = {
        "BERTH_SERVICE": "order-service",
        "BERTH_ENVIRONMENT": "test; touch pwned",
        "BERTH_IMAGE": "registry.local/shop/order-service:$(touch pwned) `id` *",
        "BERTH_DEPLOY_TIMEOUT": "600",
    }
    env = {**os.environ, **values, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", "-c", _script()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "deploy",
        values["BERTH_SERVICE"],
        values["BERTH_ENVIRONMENT"],
        values["BERTH_IMAGE"],
        "--wait",
        "--timeout",
        "600",
    ]
    assert not (tmp_path / "pwned").exists()
