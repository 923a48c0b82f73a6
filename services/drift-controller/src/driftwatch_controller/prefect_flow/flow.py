"""`drift_check_flow`: the course's four steps as Prefect tasks, each a thin call into the drift engine.

1. load snapshots   - the manifest, the previous status (a Prefect Variable) and the two data sets, read
                      as the engine reads them (`engine.check.load_inputs`: the window's rows or its
                      sketches; transient I/O errors retried, a bad spec or unusable data never)
2. compute drift    - `engine.check.run_check` on what the load read, without reading it again:
                      what `driftwatch check -f` runs (its warnings in the run's logs)
3. record results   - the verdict line in the logs, a Markdown artefact, a link to the HTML report, the
                      status carried to the next run
4. decide           - the retrain gate (Manual: pause for a typed approval; Automatic: within the
                      cooldown) and the flow's final state (Completed, or Failed when `fail_on` is reached)

The flow returns the status `driftwatch check` prints, as the result of its final state.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.settings import get_current_settings
from prefect.states import Completed, Failed, State
from prefect.variables import Variable
from pydantic import Field

from driftwatch_controller.api.times import parse_iso, parse_time
from driftwatch_controller.engine import check, datasets
from driftwatch_controller.prefect_flow import decisions, render
from driftwatch_controller.prefect_flow.manifest import Manifest, parse_manifest

FLOW_NAME = "driftwatch-check"
LOAD_RETRIES = 3
ENGINE_LOGGER = "driftwatch_controller.engine"


class RetrainApproval(RunInput):
    """What a person answers when a run recommending Retrain pauses (Manual mode)."""

    decision: Literal["approve", "reject"]
    by: str = Field(min_length=1, max_length=200, description="who decides (kept in the run history)")
    why: str = Field(default="", max_length=2000, description="why, for the audit trail")


@dataclass(frozen=True)
class Snapshots:
    """What the load step found: the parsed manifest, the carried status, and the data it read (at
    `inputs.now`), which the compute step measures as it is."""

    manifest: Manifest
    previous_status: dict[str, Any] | None
    inputs: check.Inputs

    @property
    def now(self) -> dt.datetime:
        return self.inputs.now


def _retry_transient(_task: Any, _task_run: Any, state: State[Any]) -> bool:
    return isinstance(state.data, BaseException) and decisions.is_transient(state.data)


class _ToRunLogger(logging.Handler):
    """The engine's warnings (a capture file skipped, a report not written) as the task run's own log
    lines: Prefect sends only run loggers to its API unless PREFECT_LOGGING_EXTRA_LOGGERS names others."""

    def __init__(self, run_logger: Any) -> None:
        super().__init__(logging.WARNING)
        self._run_logger = run_logger
        self._thread = threading.get_ident()  # the task's: another run in this process keeps its own

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self._run_logger.log(record.levelno, "%s", record.getMessage())


def _sent_by_prefect(name: str) -> bool:
    extra = get_current_settings().logging.extra_loggers
    names = [extra] if isinstance(extra, str) else list(extra or [])
    return any(name == n or name.startswith(f"{n}.") for n in names)


@contextmanager
def _engine_warnings_in_run_logs() -> Iterator[None]:
    if _sent_by_prefect(ENGINE_LOGGER):  # already on its way to the API: once is enough
        yield
        return
    engine = logging.getLogger(ENGINE_LOGGER)
    handler = _ToRunLogger(get_run_logger())
    engine.addHandler(handler)
    try:
        yield
    finally:
        engine.removeHandler(handler)


@task(
    name="load snapshots",
    retries=LOAD_RETRIES,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=_retry_transient,
    cache_policy=NO_CACHE,
)
def load_snapshots(
    source: str | dict[str, Any], now: str | None, retrain_deployment: str | None, carry_status: bool
) -> Snapshots:
    manifest = parse_manifest(source, retrain_deployment=retrain_deployment)
    moment = (parse_iso(now) if now else dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    previous = Variable.get(manifest.state_variable, default=None) if carry_status else None
    spec = manifest.spec
    with _engine_warnings_in_run_logs():  # a capture file skipped while reading is the run's to tell
        inputs = check.load_inputs(spec, now=moment)
    span = "whole file" if datasets.is_file_uri(spec.current.uri) else f"{spec.current.window} to {moment}"
    get_run_logger().info(
        "snapshots of %s: %d reference rows, %d current rows (%s, as %s)",
        manifest.name,
        len(inputs.reference),
        inputs.current_rows,
        span,
        "rows" if inputs.sketched is None else "sketches",
    )
    carried = previous if isinstance(previous, dict) else None
    return Snapshots(manifest, carried, inputs)


@task(name="compute drift", cache_policy=NO_CACHE)
def compute_drift(snapshots: Snapshots, report_dir: str | None, seed: int) -> check.CheckOutcome:
    with _engine_warnings_in_run_logs():
        return check.run_check(
            snapshots.manifest.spec,
            previous_status=snapshots.previous_status,
            inputs=snapshots.inputs,
            report_dir=report_dir,
            run_name=snapshots.manifest.name,
            seed=seed,
        )


def _artifact_key(name: str) -> str:
    # Artefact keys: lowercase letters, digits and dashes only.
    return "driftcheck-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "check")


@task(name="record results", cache_policy=NO_CACHE)
def record_results(snapshots: Snapshots, outcome: check.CheckOutcome, carry_status: bool) -> dict[str, Any]:
    status = outcome.status
    name = snapshots.manifest.name
    get_run_logger().info(render.verdict_line(name, status))
    key = _artifact_key(name)
    create_markdown_artifact(
        render.verdict_markdown(name, status), key=key, description=render.verdict_line(name, status)[:500]
    )
    report_uri = (status.get("report") or {}).get("uri")
    if report_uri:
        create_link_artifact(
            report_uri, link_text=f"HTML report of run {status['runId']}", key=f"{key}-report"
        )
    if carry_status:
        Variable.set(snapshots.manifest.state_variable, decisions.carried_state(status), overwrite=True)
    return status


def _last_retrain_start(deployment: str, tag: str) -> dt.datetime | None:
    """When the newest retrain run this check asked for was due (the flow run history is the record)."""
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=1,
        )
    return (
        parse_time(runs[0].expected_start_time.isoformat()) if runs and runs[0].expected_start_time else None
    )


def _check_tag(name: str) -> str:
    return f"driftwatch-check:{name}"


@task(name="decide", cache_policy=NO_CACHE)
def decide(snapshots: Snapshots, status: dict[str, Any]) -> decisions.RetrainAction:
    manifest, spec = snapshots.manifest, snapshots.manifest.spec
    deployment = manifest.retrain_deployment
    last = (
        _last_retrain_start(deployment, _check_tag(manifest.name))
        if deployment and spec.retrain.mode == "Automatic" and status["recommendation"] == "Retrain"
        else None
    )
    action = decisions.retrain_action(
        spec.retrain.mode,
        status["recommendation"],
        run_id=status["runId"],
        deployment=deployment,
        now=dt.datetime.now(dt.UTC),
        cooldown=spec.policy.cooldown_delta,
        last_retrain_start=last,
    )
    get_run_logger().info(action.message)
    return action


def _run_retrain(manifest: Manifest, status: dict[str, Any], approved_by: str | None) -> str:
    """Start the retrain deployment (not waiting for it: training is not the check's time); its id."""
    assert manifest.retrain_deployment is not None
    tags = [_check_tag(manifest.name), f"driftwatch-run:{status['runId']}"]
    if approved_by:
        tags.append(f"approved-by:{approved_by}")
    run = run_deployment(
        manifest.retrain_deployment,
        flow_run_name=f"retrain-{manifest.name}-{status['runId']}",
        tags=tags,
        timeout=0,
    )
    get_run_logger().info("retrain run %s (%s) created for run %s", run.name, run.id, status["runId"])
    return str(run.id)


def _gate(
    snapshots: Snapshots, status: dict[str, Any], action: decisions.RetrainAction, timeout: int, poll: int
) -> None:
    logger = get_run_logger()
    if action.kind == "run":
        _run_retrain(snapshots.manifest, status, None)
    if action.kind != "await_approval":
        return
    answer = pause_flow_run(
        wait_for_input=RetrainApproval.with_initial_data(
            # No initial `by`: an answer must say who decides (the server refuses one without it).
            description=f"{action.message}. Approve or reject, and say who and why.",
            decision="reject",
        ),
        timeout=timeout,
        poll_interval=poll,
        key=f"retrain-{status['runId'].lower()}",
    )
    verb = "approved" if answer.decision == "approve" else "rejected"
    logger.info(
        "retraining for run %s %s by %s: %s", status["runId"], verb, answer.by, answer.why or "(no reason)"
    )
    if answer.decision == "approve":
        _run_retrain(snapshots.manifest, status, answer.by)


@flow(name=FLOW_NAME, log_prints=False, validate_parameters=True)
def drift_check_flow(
    manifest: str | dict[str, Any],
    now: str | None = None,
    report_dir: str | None = None,
    fail_on: decisions.FailOn | None = None,
    retrain_deployment: str | None = None,
    carry_status: bool = True,
    approval_timeout_seconds: int = 3600,
    approval_poll_seconds: int = 10,
    seed: int = 0,
) -> State[Any]:
    """Run one DriftCheck (a manifest path, or the manifest as a mapping) and act on its recommendation.

    `now`: end of the current window (ISO 8601; default: the run's start). `report_dir`: where the HTML
    report goes when drift or a quality issue is found. `fail_on` (investigate | retrain): the run ends
    Failed when the recommendation reaches it, as `driftwatch check --fail-on`. `retrain_deployment`
    ("<flow>/<deployment>") overrides the manifest's annotation driftwatch.io/prefect-retrain-deployment.
    `carry_status`: keep history, streak and cooldown in a Prefect Variable between runs.
    """
    source = str(Path(manifest).resolve()) if isinstance(manifest, str) else manifest
    snapshots = load_snapshots(source, now, retrain_deployment, carry_status)
    outcome = compute_drift(snapshots, report_dir, seed)
    status = record_results(snapshots, outcome, carry_status)
    action = decide(snapshots, status)
    _gate(snapshots, status, action, approval_timeout_seconds, approval_poll_seconds)
    line = render.verdict_line(snapshots.manifest.name, status)
    if decisions.fails(status["recommendation"], fail_on):
        return Failed(message=f"fail_on {fail_on} reached: {line}"[:1000], data=status)
    return Completed(message=line[:1000], data=status)
