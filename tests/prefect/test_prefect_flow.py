"""The drift check as a Prefect flow on a real Prefect server (issue 14): verdicts, artefacts, the same
status as `driftwatch check`, the carried status, and a malformed manifest failing the run by its field."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DRIFT_NOW, NO_DRIFT_NOW, PrefectServer, manifest

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 150


def write_manifest(directory: Path, obj: dict[str, Any]) -> str:
    path = directory / f"{obj['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(obj), encoding="utf-8")
    return str(path)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"{process.args} did not finish in {RUN_TIMEOUT_S} s: {err[-3000:]}")
    return process.returncode, out, err


def flow_runs_of(server: PrefectServer, manifest_path: str) -> list[dict[str, Any]]:
    """The check's flow runs, oldest first (a run's parameters name its manifest)."""
    runs = server.post(
        "/flow_runs/filter", {"flows": {"name": {"any_": ["driftwatch-check"]}}, "sort": "START_TIME_ASC"}
    )
    assert isinstance(runs, list)
    return [r for r in runs if r["parameters"].get("manifest") == manifest_path]


def log_lines(server: PrefectServer, flow_run_id: str) -> list[str]:
    logs = server.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
    assert isinstance(logs, list)
    return [entry["message"] for entry in logs]


def artifact(server: PrefectServer, key: str) -> dict[str, Any]:
    found = server.post("/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}})
    assert isinstance(found, list)
    assert found, f"no artefact {key}"
    return found[0]


def without_timestamps(status: dict[str, Any]) -> dict[str, Any]:
    """The status with its clock readings and the report's own path taken out (each run writes its own)."""
    out = json.loads(json.dumps(status))
    for condition in out.get("conditions") or []:
        condition.pop("lastTransitionTime", None)
    if out.get("report"):
        out["report"] = {"uri": "<written>"}
    return out


@pytest.fixture(scope="module")
def checked(
    prefect_server: PrefectServer, churn_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Four processes at once: the no-drift and the drift flow, a malformed manifest's flow, and
    `driftwatch check` on the drift window (the status the flow must equal)."""
    work = tmp_path_factory.mktemp("prefect-checks")
    paths = {
        "nodrift": write_manifest(work, manifest(churn_data, "nodrift")),
        "drift": write_manifest(work, manifest(churn_data, "drift")),
        "malformed": write_manifest(
            work,
            manifest(churn_data, "malformed", current={"uri": str(churn_data / "capture"), "window": "soon"}),
        ),
    }
    reports = {"flow": work / "flow-reports", "cli": work / "cli-reports"}
    processes = {
        "nodrift": prefect_server.driftwatch(
            "prefect", "run", "-f", paths["nodrift"], "--now", NO_DRIFT_NOW, "-o", "json"
        ),
        "drift": prefect_server.driftwatch(
            "prefect",
            "run",
            "-f",
            paths["drift"],
            "--now",
            DRIFT_NOW,
            "--report-dir",
            str(reports["flow"]),
            "--fail-on",
            "investigate",
            "-o",
            "json",
        ),
        "malformed": prefect_server.driftwatch(
            "prefect", "run", "-f", paths["malformed"], "--now", DRIFT_NOW
        ),
        "cli": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "driftwatch_controller.cli",
                "check",
                "-f",
                paths["drift"],
                "--now",
                DRIFT_NOW,
                "--report-dir",
                str(reports["cli"]),
                "--fail-on",
                "investigate",
                "-o",
                "json",
            ],
            env=prefect_server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    }
    results = {name: finish(process) for name, process in processes.items()}
    return {"paths": paths, "results": results}


def test_no_drift_window_completes_with_no_drift(
    prefect_server: PrefectServer, checked: dict[str, Any]
) -> None:
    rc, out, err = checked["results"]["nodrift"]
    assert rc == 0, err[-3000:]
    status = json.loads(out)
    assert (status["verdict"], status["recommendation"]) == ("NoDrift", "None")
    [run] = flow_runs_of(prefect_server, checked["paths"]["nodrift"])
    assert run["state"]["type"] == "COMPLETED"
    assert run["state"]["message"].startswith("check nodrift: NoDrift / None: ")
    # The four steps of the course, each a task run of this flow run.
    tasks = prefect_server.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert isinstance(tasks, list)
    assert {t["task_key"].split("-")[0] for t in tasks} >= {
        "load_snapshots",
        "compute_drift",
        "record_results",
        "decide",
    }
    assert {t["state_type"] for t in tasks} == {"COMPLETED"}
    lines = log_lines(prefect_server, run["id"])
    assert f"check nodrift: NoDrift / None: {status['reason']}" in lines
    # The load step read what the check measured (the same rows), as rows.
    rows = status["rows"]
    loaded = f"snapshots of nodrift: {rows['reference']} reference rows, {rows['current']} current rows"
    assert any(line.startswith(loaded) and line.endswith(", as rows)") for line in lines), "\n".join(lines)
    # The engine's own warning reaches the run's logs, not only the worker's stderr.
    torn = "current: capture file date=2026-01-01/hour=10/test-torn.parquet skipped: unreadable: "
    assert any(line.startswith(torn) for line in lines), "\n".join(lines)
    assert status["skippedFiles"]["count"] == 1
    markdown = artifact(prefect_server, "driftcheck-nodrift")
    assert markdown["type"] == "markdown"
    assert "| Verdict | NoDrift |" in markdown["data"]


def test_drift_window_fails_on_investigate_with_its_artefacts(
    prefect_server: PrefectServer, checked: dict[str, Any]
) -> None:
    rc, out, err = checked["results"]["drift"]
    assert rc == 1, err[-3000:]  # --fail-on investigate reached, as `driftwatch check --fail-on` exits
    status = json.loads(out)
    assert (status["verdict"], status["recommendation"]) == ("Drift", "Retrain")
    [run] = flow_runs_of(prefect_server, checked["paths"]["drift"])
    assert run["state"]["type"] == "FAILED"
    assert run["state"]["message"].startswith("fail_on investigate reached: check drift: Drift / Retrain: ")
    markdown = artifact(prefect_server, "driftcheck-drift")
    assert "| Verdict | Drift |" in markdown["data"]
    drifted = [c["name"] for c in status["columns"] if c["drifted"]]
    assert drifted
    assert all(f"| {name} |" in markdown["data"] for name in drifted)
    link = artifact(prefect_server, "driftcheck-drift-report")
    # Prefect keeps a link artefact as Markdown: [text](link).
    assert link["data"] == f"[HTML report of run {status['runId']}]({status['report']['uri']})"
    assert Path(status["report"]["uri"].removeprefix("file://")).is_file()


def test_flow_status_equals_driftwatch_check(checked: dict[str, Any]) -> None:
    flow_rc, flow_out, _ = checked["results"]["drift"]
    cli_rc, cli_out, cli_err = checked["results"]["cli"]
    assert cli_rc == flow_rc == 1, cli_err[-3000:]
    flow_status, cli_status = json.loads(flow_out), json.loads(cli_out)
    assert flow_status["report"]
    assert cli_status["report"]
    assert without_timestamps(flow_status) == without_timestamps(cli_status)


def test_malformed_manifest_fails_the_flow_naming_the_field(
    prefect_server: PrefectServer, checked: dict[str, Any]
) -> None:
    rc, out, err = checked["results"]["malformed"]
    assert rc == 2
    assert out == ""
    assert "spec.current.window" in err.splitlines()[-1]
    [run] = flow_runs_of(prefect_server, checked["paths"]["malformed"])
    assert run["state"]["type"] == "FAILED"
    assert "spec.current.window" in run["state"]["message"]
    tasks = prefect_server.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert isinstance(tasks, list)
    # A bad spec is not transient I/O: the load task ran once, no retry.
    assert [(t["task_key"].split("-")[0], t["run_count"], t["state_type"]) for t in tasks] == [
        ("load_snapshots", 1, "FAILED")
    ]


def test_status_is_carried_to_the_next_run(prefect_server: PrefectServer, checked: dict[str, Any]) -> None:
    first = json.loads(checked["results"]["nodrift"][1])
    rc, out, err = finish(
        prefect_server.driftwatch(
            "prefect", "run", "-f", checked["paths"]["nodrift"], "--now", "2026-01-01T10:58:00Z", "-o", "json"
        )
    )
    assert rc == 0, err[-3000:]
    second = json.loads(out)
    assert (first["runs"], second["runs"]) == (1, 2)
    assert [h["runId"] for h in second["history"]] == [second["runId"], first["runId"]]
    variable = prefect_server.get("/variables/name/driftwatch_status_nodrift")
    assert isinstance(variable, dict)
    assert variable["value"]["runs"] == 2


def test_serve_schedules_the_driftcheck_in_its_time_zone(
    prefect_server: PrefectServer, churn_data: Path, tmp_path: Path
) -> None:
    path = write_manifest(
        tmp_path, manifest(churn_data, "served", schedule="15 */2 * * *", timeZone="Europe/Paris")
    )
    serving = prefect_server.driftwatch("prefect", "serve", "-f", path)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        deployment = None
        while deployment is None and time.monotonic() < deadline and serving.poll() is None:
            try:
                deployment = prefect_server.get("/deployments/name/driftwatch-check/served")
            except Exception:
                time.sleep(1)
        assert isinstance(deployment, dict), serving.poll()
        [schedule] = deployment["schedules"]
        assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (
            "15 */2 * * *",
            "Europe/Paris",
        )
        assert deployment["parameters"] == {"manifest": path}
        assert not deployment["paused"]
    finally:
        serving.terminate()
        serving.communicate(timeout=30)
