"""The alert rules of the PrometheusRule: `promtool check rules` on its groups and `promtool test rules`
for every alert, firing and not firing (alerts.test.yaml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support.chart_render import prometheus_rule_groups, render

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def write_rules(directory: Path) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": prometheus_rule_groups(render("v35", None))}, sort_keys=False))
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool not found: run `make tools` (Debian package prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules_accepts_the_rule_groups(tmp_path: Path) -> None:
    result = promtool("check", "rules", str(write_rules(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_every_alert_has_a_firing_and_a_not_firing_unit_test() -> None:
    tests = yaml.safe_load((HERE / "alerts.test.yaml").read_text())["tests"]
    cases = [case for group in tests for case in group["alert_rule_test"]]
    alerts = {
        rule["alert"] for group in prometheus_rule_groups(render("v35", None)) for rule in group["rules"]
    }
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == alerts
    assert quiet == alerts


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    write_rules(tmp_path)
    shutil.copy(HERE / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    result = promtool("test", "rules", str(tmp_path / "alerts.test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS", result.stdout)
