"""The retrain gate as Prefect runs it (issue 14): Manual pauses for a typed approval and runs the retrain
deployment once when approved, never when rejected, with who decided in the run history; Automatic runs it
at most once within the policy's cooldown."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DRIFT_NOW, JOB_TEMPLATE, PREFECT_VENV, PrefectServer, manifest
from support.processes import die_with_parent, stop_gracefully
from test_prefect_flow import RUN_TIMEOUT_S, finish, flow_runs_of, log_lines, write_manifest

pytestmark = pytest.mark.integration

RETRAIN = "retrain/churn"
ANNOTATION = {"driftwatch.io/prefect-retrain-deployment": RETRAIN}


def wait_for(what: str, probe: Any, timeout: float = RUN_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception:  # the server answers 404 until the thing exists
            value = None
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def retrain_deployment(prefect_server: PrefectServer) -> Iterator[dict[str, Any]]:
    """A trivial `retrain/churn` deployment, served by a process of its own (which runs its flow runs)."""
    serving = subprocess.Popen(
        [str(PREFECT_VENV / "bin" / "python"), str(Path(__file__).with_name("retrain_flow.py"))],
        env=prefect_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        yield wait_for("the retrain deployment", lambda: prefect_server.get(f"/deployments/name/{RETRAIN}"))
    finally:
        stop_gracefully(serving)


def retrain_runs(server: PrefectServer, deployment: dict[str, Any], check: str) -> list[dict[str, Any]]:
    runs = server.post(
        "/flow_runs/filter",
        {
            "deployments": {"id": {"any_": [deployment["id"]]}},
            "flow_runs": {"tags": {"all_": [f"driftwatch-check:{check}"]}},
        },
    )
    assert isinstance(runs, list)
    return runs


def gated(data: Path, name: str, mode: str) -> dict[str, Any]:
    obj = manifest(data, name, retrain={"mode": mode, "jobTemplate": JOB_TEMPLATE})
    obj["metadata"]["annotations"] = ANNOTATION
    return obj


def run_check(server: PrefectServer, path: str) -> subprocess.Popen[str]:
    return server.driftwatch(
        "prefect",
        "run",
        "-f",
        path,
        "--now",
        DRIFT_NOW,
        "--no-carry-status",
        "--approval-poll",
        "1",
        "-o",
        "json",
    )


def paused_run(server: PrefectServer, path: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        runs = [r for r in flow_runs_of(server, path) if r["state"]["type"] == "PAUSED"]
        return runs[0] if runs else None

    return wait_for(f"a paused run of {path}", probe)


def resume(server: PrefectServer, run: dict[str, Any], answer: dict[str, Any]) -> str:
    response = server.post(f"/flow_runs/{run['id']}/resume", {"run_input": answer})
    assert isinstance(response, dict)
    return str(response["status"])


def decide_both(
    server: PrefectServer,
    deployment: dict[str, Any],
    checks: dict[str, subprocess.Popen[str]],
    paths: dict[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Wait for both runs to pause, answer each, and read the status each check prints."""
    waiting = {name: paused_run(server, path) for name, path in paths.items()}
    # Nothing runs before someone decides.
    assert retrain_runs(server, deployment, "gated-approve") == []
    # The input is typed: an answer without who decides is refused, and the run stays paused.
    assert resume(server, waiting["approve"], {"decision": "approve"}) == "REJECT"
    alice = {"decision": "approve", "by": "alice", "why": "drift confirmed"}
    assert resume(server, waiting["approve"], alice) == "ACCEPT"
    assert (
        resume(server, waiting["reject"], {"decision": "reject", "by": "bob", "why": "seasonal"}) == "ACCEPT"
    )
    statuses = {}
    for name, process in checks.items():
        rc, out, err = finish(process)
        assert rc == 0, f"{name}: {err[-3000:]}"
        statuses[name] = json.loads(out)
    return waiting, statuses


def matching(server: PrefectServer, flow_run: dict[str, Any], text: str) -> list[str]:
    return wait_for(text, lambda: [m for m in log_lines(server, flow_run["id"]) if text in m])


def test_manual_approval_runs_the_retrain_deployment_once_and_a_rejection_never(
    prefect_server: PrefectServer,
    retrain_deployment: dict[str, Any],
    churn_data: Path,
    tmp_path: Path,
) -> None:
    paths = {
        "approve": write_manifest(tmp_path, gated(churn_data, "gated-approve", "Manual")),
        "reject": write_manifest(tmp_path, gated(churn_data, "gated-reject", "Manual")),
    }
    checks = {name: run_check(prefect_server, path) for name, path in paths.items()}
    try:
        waiting, statuses = decide_both(prefect_server, retrain_deployment, checks, paths)
    finally:
        for process in checks.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert statuses["approve"]["recommendation"] == statuses["reject"]["recommendation"] == "Retrain"

    [retrain] = retrain_runs(prefect_server, retrain_deployment, "gated-approve")
    assert "approved-by:alice" in retrain["tags"]
    assert retrain_runs(prefect_server, retrain_deployment, "gated-reject") == []
    # The served deployment ran it.
    wait_for(
        "the retrain run",
        lambda: prefect_server.get(f"/flow_runs/{retrain['id']}")["state_type"] == "COMPLETED",
    )
    # The audit trail: who decided, and why, is in each check run's history.
    run_id = statuses["approve"]["runId"]
    approved = matching(prefect_server, waiting["approve"], "approved by alice")
    assert approved == [f"retraining for run {run_id} approved by alice: drift confirmed"]
    assert matching(prefect_server, waiting["reject"], "rejected by bob")[0].endswith(
        "rejected by bob: seasonal"
    )
    final = prefect_server.get(f"/flow_runs/{waiting['approve']['id']}")
    assert isinstance(final, dict)
    assert final["state_type"] == "COMPLETED"
    assert "Drift / Retrain" in final["state"]["message"]


def test_automatic_runs_the_retrain_deployment_once_within_the_cooldown(
    prefect_server: PrefectServer,
    retrain_deployment: dict[str, Any],
    churn_data: Path,
    tmp_path: Path,
) -> None:
    path = write_manifest(tmp_path, gated(churn_data, "automatic", "Automatic"))
    # --no-carry-status: each run recommends Retrain afresh, so only the gate's cooldown can hold the second.
    rc, _, err = finish(run_check(prefect_server, path))
    assert rc == 0, err[-3000:]
    assert len(retrain_runs(prefect_server, retrain_deployment, "automatic")) == 1
    rc, _, err = finish(run_check(prefect_server, path))
    assert rc == 0, err[-3000:]
    assert len(retrain_runs(prefect_server, retrain_deployment, "automatic")) == 1
    second = flow_runs_of(prefect_server, path)[-1]
    assert len(matching(prefect_server, second, "within the cooldown of 1 day")) == 1
