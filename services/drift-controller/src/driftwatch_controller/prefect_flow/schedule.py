"""Serving the flow on the DriftCheck's schedule and time zone: one manifest for the operator and Prefect."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron, Schedule

from driftwatch_controller.prefect_flow.manifest import Manifest


def check_schedule(manifest: Manifest) -> Schedule:
    """spec.schedule in spec.timeZone (UTC when none, as a CronJob without timeZone on a UTC cluster)."""
    return Cron(manifest.spec.schedule, timezone=manifest.spec.time_zone or "UTC")


def deployment_parameters(path: str, report_dir: str | None, fail_on: str | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"manifest": path}
    if report_dir:
        parameters["report_dir"] = report_dir
    if fail_on:
        parameters["fail_on"] = fail_on
    return parameters


def serve_check(
    manifest: Manifest, path: str, *, name: str | None, report_dir: str | None, fail_on: str | None
) -> None:
    """Block serving the deployment `driftwatch-check/<name>`; spec.suspend serves it paused."""
    from driftwatch_controller.prefect_flow.flow import drift_check_flow

    drift_check_flow.serve(
        name=name or manifest.name,
        schedules=[check_schedule(manifest)],
        parameters=deployment_parameters(path, report_dir, fail_on),
        paused=manifest.spec.suspend,
        tags=["driftwatch", f"driftwatch-check:{manifest.name}"],
        description=f"DriftCheck {manifest.name} ({path})",
    )
