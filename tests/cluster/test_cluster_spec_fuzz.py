"""DriftCheck specs fuzzed on the real API server with the chart's controller running (issue 12, item 4).

Specs generated from the CRD's openAPIV3Schema (tests/support/spec_fuzz.py): valid ones, by
hypothesis-jsonschema, and just-invalid ones, a valid spec with one mistake (a value out of its enum,
range or pattern, the wrong type, an unknown field, a required field removed). Each is created through
the API server (strict field validation, as kubectl applies): either the server rejects it and names the
field at fault, or the controller reconciles it to Ready=True with its CronJob, or to Ready=False with a
reason and a message (then no CronJob). Meanwhile the controller process never restarts, logs no
traceback and its memory stays bounded. Derandomized and bounded: the same specs on every run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support.cluster_release import GROUP_PATH, Release, check_spec
from support.control_plane import wait_until
from support.spec_fuzz import Case, just_invalid_specs, scheduled_specs, valid_specs

pytestmark = pytest.mark.cluster

NAMESPACE = "dw-fuzz"
# From the schema, from a cron grammar near each field's edges, one mistake away from a valid spec.
VALID, SCHEDULED, JUST_INVALID = 40, 30, 80
# The controller's RSS may grow by its caches of 150 DriftChecks (kopf's and the metrics store), not more.
MAX_RSS_GROWTH = 0.5
FUZZ = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "phases": [Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


def generated(strategy: st.SearchStrategy[Case], count: int) -> list[Case]:
    """`count` examples of `strategy`, the same ones on every run (derandomized, no database)."""
    cases: list[Case] = []

    @settings(max_examples=count, **FUZZ)  # type: ignore[arg-type]
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases[:count]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def controller_pid(release: Release, pod: str) -> int:
    # The pod runner's process of the pod: the controller itself (its image's entrypoint is the
    # `driftwatch` console script, run directly, no shell in between).
    pid: int = release.runner._processes[f"{release.namespace}/{pod}"].pid
    return pid


def ready_outcome(release: Release, obj: dict[str, Any], cronjobs: set[str]) -> tuple[str, str] | None:
    """("Ready=True", "") or ("Ready=False", message) once the controller has spoken on this generation."""
    meta, status = obj["metadata"], obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("observedGeneration") != meta.get("generation"):
        return None
    has_cronjob = f"driftcheck-{meta['name']}" in cronjobs
    if ready["status"] == "True" and ready.get("reason") == "Reconciled" and has_cronjob:
        return "Ready=True", ""
    if ready["status"] == "False" and ready.get("reason") and ready.get("message") and not has_cronjob:
        return f"Ready=False/{ready['reason']}", str(ready["message"])
    return None


def test_fuzzed_specs_are_rejected_naming_the_field_or_reconciled(
    release: Release, uris: dict[str, str]
) -> None:
    pod = release.wait_controller()["metadata"]["name"]
    pid = controller_pid(release, pod)
    rss_before = rss_mib(pid)
    began = time.monotonic()
    base = check_spec(uris)
    cases = [
        *generated(valid_specs(), VALID),
        *generated(scheduled_specs(base), SCHEDULED),
        *generated(just_invalid_specs(base), JUST_INVALID),
    ]
    path = f"{GROUP_PATH}/namespaces/{release.namespace}/driftchecks"
    rejected: dict[str, tuple[Case, str]] = {}
    accepted: dict[str, Case] = {}
    with release.plane.client() as api:
        for index, case in enumerate(cases):
            name = f"fuzz-{index:03d}"
            manifest = {
                "apiVersion": "driftwatch.io/v1alpha1",
                "kind": "DriftCheck",
                "metadata": {"name": name},
                "spec": case.spec,
            }
            response = api.post(path, params={"fieldValidation": "Strict"}, json=manifest)
            if response.status_code == 201:
                accepted[name] = case
            else:
                assert response.status_code in (400, 422), (response.status_code, response.text, case)
                rejected[name] = (case, str(response.json().get("message")))

    outcomes: dict[str, tuple[str, str]] = {}

    def all_reconciled() -> bool:
        cronjobs = {
            c["metadata"]["name"]
            for c in release.plane.items(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs")
        }
        for obj in release.plane.items(path):
            name = obj["metadata"]["name"]
            if name in accepted and name not in outcomes and (found := ready_outcome(release, obj, cronjobs)):
                outcomes[name] = found
        return len(outcomes) == len(accepted)

    try:
        wait_until(all_reconciled, timeout=150, interval=1, what="every accepted DriftCheck reconciled")
    except TimeoutError:
        stuck = {n: accepted[n].spec for n in sorted(set(accepted) - set(outcomes))}
        raise AssertionError(f"{len(stuck)} never reconciled: {stuck}\n{release.runner.all_logs()}") from None
    seconds = time.monotonic() - began
    rss_after = rss_mib(pid)

    # Every rejection names the field at fault (a valid case rejected: some field of spec).
    unnamed = {n: (c.kind, c.field, m) for n, (c, m) in rejected.items() if not c.named_in(m)}
    # A just-invalid spec the server let through is one the controller refuses, naming the same field;
    # a schedule the controller refuses is named too.
    let_through = {
        n: (c.kind, c.field, outcomes[n])
        for n, c in accepted.items()
        if (outcomes[n][0] == "Ready=True" and c.kind not in ("valid", "schedule"))
        or (outcomes[n][0] != "Ready=True" and c.kind != "valid" and not c.named_in(outcomes[n][1]))
    }
    table = Counter(
        (c.kind, "rejected" if n in rejected else outcomes[n][0])
        for n, c in {**accepted, **{n: c for n, (c, _) in rejected.items()}}.items()
    )
    reasons = Counter(outcomes[n][1].split(":", 1)[0].split(" ", 1)[0] for n in outcomes if outcomes[n][1])
    pods = release.controller_pods()
    restarts = [s.get("restartCount", 0) for p in pods for s in p["status"].get("containerStatuses") or []]
    logs = release.runner.logs(release.namespace, pod)
    summary = [
        f"spec fuzz: {len(cases)} specs in {seconds:.0f} s: {len(rejected)} rejected by the API server, "
        f"{sum(1 for o in outcomes.values() if o[0] == 'Ready=True')} Ready=True, "
        f"{sum(1 for o in outcomes.values() if o[0] != 'Ready=True')} Ready=False; controller RSS "
        f"{rss_before:.1f} -> {rss_after:.1f} MiB, restarts {restarts}, tracebacks {logs.count('Traceback')}",
        *(f"  {kind:>8} {outcome:<24} {count}" for (kind, outcome), count in sorted(table.items())),
        "  Ready=False messages by field: " + ", ".join(f"{f} {n}" for f, n in reasons.most_common()),
    ]
    print("\n".join(summary))
    assert not unnamed, unnamed
    assert not let_through, let_through
    assert [p["metadata"]["name"] for p in pods] == [pod]
    assert restarts == [0]
    os.kill(pid, 0)  # the same process, still alive
    assert "Traceback" not in logs, logs[max(0, logs.find("Traceback") - 2000) :][:6000]
    assert rss_after <= rss_before * (1 + MAX_RSS_GROWTH), (rss_before, rss_after)
    release.plane.kubectl("delete", "driftchecks", "--all", "--namespace", release.namespace, "--wait")
