"""Thin kopf handlers: read the DriftCheck, call a pure builder or decision, apply it, record it.

Handlers are registered on a registry passed in (never at import time), with the settings, the
client and the metrics store in a `ControllerContext`. kopf keeps its progress and diff base in
`kopf.driftwatch.io/*` annotations: the CRD declares no `status.kopf`, and a real API server
prunes undeclared status fields.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from prometheus_client import CollectorRegistry

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.api.status import ready_conditions
from driftwatch_controller.controller import builders, kube, retrain_gate
from driftwatch_controller.controller.drift_metrics import StatusStore, build_registry
from driftwatch_controller.controller.settings import ControllerSettings

RESOURCE = (contracts.GROUP, contracts.VERSION, contracts.PLURAL)
# kopf hides annotations under its own prefix from change detection: keep it apart from the
# user-facing driftwatch.io/run-now and driftwatch.io/approve-retrain.
KOPF_PREFIX = f"kopf.{contracts.GROUP}"
MIRROR_STATUS_ID = "mirror-status"
# kopf's peering resources (the chart's crds/kopf-peering.yaml).
PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"
# How long a starting replica waits between writing its peering entry and letting kopf act: longer than
# the gap between two replicas started together writing theirs (see announce_peer).
PEER_SETTLE_SECONDS = 3.0
# How soon a reconcile that RBAC refused is tried again: a missing verb is fixed by a person (or a
# `helm upgrade`), and the DriftCheck should follow within seconds, not after kopf's 60-s back-off.
FORBIDDEN_RETRY_SECONDS = 10.0


@dataclass
class ControllerContext:
    """What the handlers share: settings, the API client (made at startup) and the metrics store."""

    settings: ControllerSettings
    store: StatusStore = field(default_factory=StatusStore)
    client: kube.Kube | None = None
    metrics_registry: CollectorRegistry | None = None
    metrics_server: Any = None
    # (identity, priority) in the peering object when several replicas take turns; None standalone.
    peer: tuple[str, int] | None = None

    @property
    def kube(self) -> kube.Kube:
        if self.client is None:
            raise kopf.TemporaryError("the Kubernetes client is not ready yet", delay=2)
        return self.client


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _event(body: Any, reason: str, message: str, *, warning: bool = False) -> None:
    kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message[:1024])


def _set_ready(status: Any, patch: Any, meta: Any, *, ready: bool, reason: str, message: str) -> None:
    """Patch the conditions (the whole list) only when Ready says something new."""
    old = list(status.get("conditions") or [])
    new = ready_conditions(
        old, ready=ready, reason=reason, message=message, generation=meta.get("generation"), now=_now()
    )
    if new != old:
        patch.status["conditions"] = new


def parse_spec(spec: Any) -> DriftCheckSpec | None:
    """The typed spec, parsed once per handler call; None when it cannot run (Ready=False says why)."""
    try:
        return DriftCheckSpec.parse(spec, cluster=True)
    except SpecError:
        return None


def quiet_mirror_status(record: logging.LogRecord) -> bool:
    """Drop the line kopf logs each time `mirror_status` succeeds: it runs on every watch event.

    Three lines per DriftCheck change said nothing, and writing them was about a tenth of the
    controller's CPU in a burst of creations (py-spy). Its failures are still logged.
    """
    return str(record.msg) != f"Handler {MIRROR_STATUS_ID!r} succeeded."


def announce_peer(ctx: ControllerContext, lifetime: int) -> None:
    """Write this replica's entry into the peering objects, then wait before kopf may act.

    kopf resumes a replica as soon as its first keep-alive shows no higher-priority live peer: of two
    replicas started together, the younger could act for the moment before the older one's entry
    lands, and both would reconcile the same DriftChecks at once. Written before kopf starts, and
    given time to land, every entry is there when kopf looks first; kopf then keeps it fresh.
    """
    if ctx.peer is None:
        return
    identity, priority = ctx.peer
    entry = {"priority": priority, "lifetime": lifetime, "lastseen": _now().isoformat()}
    body = {"status": {identity: entry}}
    custom, name = ctx.kube.custom, ctx.settings.peering
    if not ctx.settings.namespaces:  # a controller of every namespace: one ClusterKopfPeering
        custom.patch_cluster_custom_object(
            PEERING_GROUP, PEERING_VERSION, "clusterkopfpeerings", name, body, _content_type=kube.MERGE_PATCH
        )
    for namespace in ctx.settings.namespaces:  # else a KopfPeering in each watched namespace
        custom.patch_namespaced_custom_object(
            PEERING_GROUP,
            PEERING_VERSION,
            namespace,
            "kopfpeerings",
            name,
            body,
            _content_type=kube.MERGE_PATCH,
        )
    time.sleep(PEER_SETTLE_SECONDS)


def run_now_requested_at(meta: Any) -> dt.datetime | None:
    """When the run-now annotation was last set, from the API server's managedFields; None if unknown.

    The same for every attempt at one request, whichever replica makes it.
    """
    times = [
        str(entry["time"])
        for entry in meta.get("managedFields") or []
        if entry.get("time")
        and f"f:{contracts.RUN_NOW_ANNOTATION}"
        in (((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {})
    ]
    return max(dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times) if times else None


def reconcile_driftcheck(
    ctx: ControllerContext, body: Any, spec: Any, meta: Any, status: Any, patch: Any, *, new: bool = False
) -> str:
    """Make the owned CronJob match the spec; Ready says whether it does. Returns what was done.

    The spec is validated here, once: what an API server without the CRD's schema lets through
    (a wrong type, an unknown field) ends as Ready=False naming the field, never a retried traceback.
    """
    try:
        typed = DriftCheckSpec.parse(spec, cluster=True)
    except SpecError as exc:
        message = str(exc)
        _set_ready(status, patch, meta, ready=False, reason="InvalidSpec", message=message)
        _event(body, "InvalidSpec", message, warning=True)
        return "invalid"
    desired = builders.build_cronjob(typed, meta, ctx.settings)
    kopf.adopt(desired, owner=body)
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    try:
        action = _apply_cronjob(ctx, desired, namespace, name, new=new)
    except kube.ApiException as exc:
        if (forbidden := kube.forbidden_message(exc)) is not None:
            _refused_by_rbac(ctx, body, status, meta, name, forbidden)
        refused = kube.rejection_message(exc)
        if refused is None:
            raise  # transient (conflict, 5xx, timeout): kopf retries with back-off
        # A spec the CRD's schema let through but the CronJob's own validation refuses: retrying the
        # same object would fail forever; Ready says why until the spec changes.
        message = f"the API server refused CronJob {name}: {refused}"
        _set_ready(status, patch, meta, ready=False, reason="CronJobRejected", message=message)
        _event(body, "CronJobRejected", message, warning=True)
        return "rejected"
    _set_ready(status, patch, meta, ready=True, reason="Reconciled", message=f"CronJob {name} is in place")
    if action != "unchanged":
        _event(
            body, f"CronJob{action.capitalize()}", f"CronJob {name} {action} (schedule {typed.schedule!r})"
        )
    return action


def _refused_by_rbac(ctx: ControllerContext, body: Any, status: Any, meta: Any, name: str, why: str) -> None:
    """Ready=False naming what RBAC refused, written now (the handler fails), then a retry soon.

    Not a rejection of the object: the same call succeeds once the verb is granted, so it is retried
    every FORBIDDEN_RETRY_SECONDS and Ready says what to grant meanwhile.
    """
    message = (
        f"the controller may not write CronJob {name}: {why} "
        f"(grant the verb to its service account; retried every {FORBIDDEN_RETRY_SECONDS:g} s)"
    )
    conditions = ready_conditions(
        list(status.get("conditions") or []),
        ready=False,
        reason="Forbidden",
        message=message,
        generation=meta.get("generation"),
        now=_now(),
    )
    if conditions != list(status.get("conditions") or []):
        ctx.kube.patch_driftcheck_status(
            str(meta["namespace"]), str(meta["name"]), {"conditions": conditions}
        )
        _event(body, "Forbidden", message, warning=True)
    raise kopf.TemporaryError(message, delay=FORBIDDEN_RETRY_SECONDS)


def _apply_cronjob(
    ctx: ControllerContext, desired: dict[str, Any], namespace: str, name: str, *, new: bool
) -> str:
    """Create or patch the owned CronJob; returns created, updated or unchanged."""
    # A new DriftCheck almost never has its CronJob yet: create first, one API call instead of two.
    if new and ctx.kube.create_cronjob(desired) is not None:
        return "created"
    current = ctx.kube.get_cronjob(namespace, name)
    if current is None:
        ctx.kube.create_cronjob(desired)
        return "created"
    if (change := builders.cronjob_patch(current, desired)) is not None:
        ctx.kube.patch_cronjob(namespace, name, change)
        return "updated"
    return "unchanged"


def _retrain_failed(run: str, why: str) -> retrain_gate.RetrainDecision:
    """A decided retrain that cannot be carried out: recorded as RetrainFailed, with why."""
    return retrain_gate.RetrainDecision(
        "NotRequested", run, False, f"cannot retrain for run {run}: {why}", "RetrainFailed", warning=True
    )


def apply_retrain_decision(
    ctx: ControllerContext,
    decision: retrain_gate.RetrainDecision | None,
    *,
    body: Any,
    spec: DriftCheckSpec,
    meta: Any,
    status: Any,
    patch: Any,
) -> None:
    """Create the retrain Job when decided, then record the decision in status and as an Event."""
    if decision is None:
        return
    job_name = ""
    if decision.create_job:
        try:
            job = builders.build_retrain_job(spec, meta, decision.run_id)
        except SpecError as exc:
            decision = _retrain_failed(decision.run_id, str(exc))
        else:
            kopf.adopt(job, owner=body)
            try:
                ctx.kube.create_job(job)
                job_name = job["metadata"]["name"]
            except kube.ApiException as exc:
                refused = kube.rejection_message(exc)
                if refused is None:
                    raise
                decision = _retrain_failed(decision.run_id, f"the API server refused the Job: {refused}")
    patch.status["retrain"] = retrain_gate.retrain_status(
        decision, status.get("retrain"), mode=retrain_gate.mode_of(spec), now=_now(), job=job_name
    )
    message = f"{decision.message}; Job {job_name} created" if job_name else decision.message
    _event(body, decision.event_reason, message, warning=decision.warning)


def register(registry: kopf.OperatorRegistry, ctx: ControllerContext) -> None:
    """Register every handler of the DriftCheck operator on `registry`."""

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
        # Annotations, not status.kopf: the CRD does not declare it and the API server would prune it.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )
        # Handler log lines stay in the log; only the explicit, meaningful Events reach kubectl.
        settings.posting.level = logging.WARNING
        logging.getLogger("kopf.objects").addFilter(quiet_mirror_status)  # idempotent
        # Resources are known at start (the chart installs the CRD); no CRD/namespace watch, no RBAC for it.
        settings.scanning.disabled = True
        settings.execution.max_workers = ctx.settings.max_workers
        # kopf's default (60 s) is how long a standby waits for a dead active replica: keep it short
        # (docs/operator.md, "Several replicas"). Unused standalone.
        settings.peering.lifetime = ctx.settings.peering_lifetime
        settings.networking.request_timeout = 60
        # Re-list now and then so a watch silently dropped by a proxy does not stall the controller.
        settings.watching.server_timeout = 600
        # The handler's labels= filter is applied by kopf after the event arrived: select on the API
        # server too, so the cluster's other CronJobs are neither streamed nor parsed here.
        settings.watching.label_selectors["batch", "cronjobs"] = (
            f"{contracts.MANAGED_BY_LABEL}={contracts.MANAGER}"
        )
        ctx.client = kube.Kube(
            kube.new_api_client(ctx.settings.kubeconfig), user_agent="driftwatch-controller"
        )
        announce_peer(ctx, settings.peering.lifetime)
        ctx.metrics_registry = build_registry(ctx.store)
        if ctx.settings.metrics_port:
            from prometheus_client import start_http_server

            ctx.metrics_server = start_http_server(
                ctx.settings.metrics_port, addr=ctx.settings.metrics_host, registry=ctx.metrics_registry
            )
            logger.info("metrics on %s:%d/metrics", ctx.settings.metrics_host, ctx.settings.metrics_port)

    @kopf.on.cleanup(registry=registry)
    def stop_metrics(**_: Any) -> None:
        if ctx.metrics_server is not None:
            server, _thread = ctx.metrics_server
            server.shutdown()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if not ctx.settings.kubeconfig and kube.in_cluster():
            return kopf.login_with_service_account(**kwargs)
        info = kube.connection_from_kubeconfig(kube.kubeconfig_path(ctx.settings.kubeconfig))
        return kopf.ConnectionInfo(**{k: v for k, v in info.items() if v is not None})

    @kopf.on.resume(*RESOURCE, registry=registry)
    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    def reconcile(body: Any, spec: Any, meta: Any, status: Any, patch: Any, reason: Any, **_: Any) -> None:
        reconcile_driftcheck(ctx, body, spec, meta, status, patch, new=reason == kopf.Reason.CREATE)
        # Ready is written now, not only by kopf after the handler: kopf stores "handler done" in the
        # annotations before it patches the status, so a replica killed between the two left a
        # DriftCheck without Ready that the standby, reading "done", never reconciled again
        # (tests/cluster/test_cluster_ha.py).
        if "conditions" in patch.status:
            ctx.kube.patch_driftcheck_status(
                str(meta["namespace"]), str(meta["name"]), {"conditions": patch.status["conditions"]}
            )

    @kopf.on.field(
        *RESOURCE, field=("metadata", "annotations", contracts.RUN_NOW_ANNOTATION), registry=registry
    )
    def run_now(new: Any, body: Any, meta: Any, patch: Any, **_: Any) -> None:
        if not new:
            return
        cronjob = ctx.kube.get_cronjob(meta["namespace"], builders.cronjob_name(meta["name"]))
        if cronjob is None:
            raise kopf.TemporaryError("the CronJob does not exist yet (is the spec valid?)", delay=10)
        # Named after the request, not the attempt: a replica killed between creating the Job and
        # consuming the annotation leaves it set, and the next attempt (a standby taking over) gets 409.
        job = builders.build_job_from_cronjob(cronjob, now=run_now_requested_at(meta) or _now())
        ctx.kube.create_job(job)
        # Consumed: setting the annotation again runs the check again.
        patch.metadata.annotations[contracts.RUN_NOW_ANNOTATION] = None
        _event(
            body,
            "RunNow",
            f"Job {job['metadata']['name']} created from CronJob {cronjob['metadata']['name']}",
        )

    @kopf.on.field(*RESOURCE, field="status.runId", registry=registry)
    def announce_run(new: Any, body: Any, spec: Any, meta: Any, status: Any, patch: Any, **_: Any) -> None:
        if not new:
            return
        verdict = str(status.get("verdict") or "Unknown")
        summary = (
            f"run {new}: {verdict}, recommendation {status.get('recommendation')}: {status.get('reason', '')}"
        )
        _event(body, verdict, summary, warning=verdict in ("Error", "DataQualityIssue"))
        if (typed := parse_spec(spec)) is None:
            return  # no retraining on a spec that cannot run; Ready=False says why
        decision = retrain_gate.on_new_run(
            typed, status, _now(), name=str(meta["name"]), namespace=str(meta.get("namespace") or "")
        )
        apply_retrain_decision(ctx, decision, body=body, spec=typed, meta=meta, status=status, patch=patch)

    @kopf.on.field(
        *RESOURCE, field=("metadata", "annotations", contracts.APPROVE_RETRAIN_ANNOTATION), registry=registry
    )
    def approve_retrain(new: Any, body: Any, spec: Any, meta: Any, status: Any, patch: Any, **_: Any) -> None:
        if (typed := parse_spec(spec)) is None:
            return  # no retraining on a spec that cannot run; Ready=False says why
        decision = retrain_gate.on_approval(typed, status, str(new or ""))
        apply_retrain_decision(ctx, decision, body=body, spec=typed, meta=meta, status=status, patch=patch)

    @kopf.on.event(
        "batch", "v1", "cronjobs", labels={contracts.MANAGED_BY_LABEL: contracts.MANAGER}, registry=registry,
        # Filtered before the call: otherwise every CronJob created takes a handler thread (and a log
        # line) only to return, competing with the reconciles of a burst.
        when=lambda event, **_: event.get("type") == "DELETED",
    )  # fmt: skip
    def recreate_deleted_cronjob(meta: Any, **_: Any) -> None:
        # A built-in controller brings back a child deleted by hand; the garbage collector deleting
        # it with its DriftCheck is told apart by the DriftCheck being gone (or going).
        owner = next((r for r in meta.get("ownerReferences") or [] if r.get("kind") == contracts.KIND), None)
        if owner is None:
            return
        try:
            driftcheck = ctx.kube.get_driftcheck(meta["namespace"], owner["name"])
        except kube.ApiException as exc:
            if exc.status == 404:
                return
            raise
        dc_meta = driftcheck.get("metadata") or {}
        if dc_meta.get("deletionTimestamp") or dc_meta.get("uid") != owner.get("uid"):
            return
        if (typed := parse_spec(driftcheck.get("spec") or {})) is None:
            return  # Ready=False already says why there is no CronJob
        desired = builders.build_cronjob(typed, dc_meta, ctx.settings)
        owner_body = kopf.Body(cast(kopf.RawBody, driftcheck))
        kopf.adopt(desired, owner=owner_body)
        if ctx.kube.create_cronjob(desired) is not None:
            _event(owner_body, "CronJobRecreated", f"CronJob {meta['name']} was deleted; created it again")

    @kopf.on.event(*RESOURCE, id=MIRROR_STATUS_ID, registry=registry)
    async def mirror_status(event: Any, name: Any, namespace: Any, spec: Any, status: Any, **_: Any) -> None:
        if event.get("type") == "DELETED":
            ctx.store.remove(str(namespace), str(name))
        else:
            ctx.store.put(str(namespace), str(name), parse_spec(spec), dict(status))
