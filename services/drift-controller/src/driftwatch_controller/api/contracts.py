"""Names shared by the controller, the check pod and the chart: CRD coordinates, annotations, labels,
the status' enums and condition types, and the check's exit codes. Each is defined here only."""

from __future__ import annotations

from typing import Literal, get_args

GROUP = "driftwatch.io"
VERSION = "v1alpha1"
PLURAL = "driftchecks"
KIND = "DriftCheck"
API_VERSION = f"{GROUP}/{VERSION}"

RUN_NOW_ANNOTATION = "driftwatch.io/run-now"
APPROVE_RETRAIN_ANNOTATION = "driftwatch.io/approve-retrain"
RUN_ID_ANNOTATION = "driftwatch.io/run-id"

DRIFTCHECK_LABEL = "driftwatch.io/driftcheck"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "driftwatch-controller"

Verdict = Literal["NoDrift", "Drift", "InsufficientData", "DataQualityIssue", "Error"]
Recommendation = Literal["None", "Investigate", "Retrain"]
RetrainMode = Literal["Off", "Manual", "Automatic"]
DriftMethod = Literal["auto", "wasserstein", "jensenshannon", "psi", "ks", "hellinger", "kl_div"]
ThresholdMode = Literal["calibrated", "fixed"]
# What a check reads of its window: rows, the capture's sketches, or sketches when they serve
# (docs/drift-engine.md, Scale); and what a run did read.
DataSource = Literal["rows", "sketches", "auto"]
DataPath = Literal["rows", "sketches"]
# Where a check computes its per-column distributions (docs/drift-engine.md, Scale).
Engine = Literal["numpy", "spark"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
RECOMMENDATIONS: tuple[Recommendation, ...] = get_args(Recommendation)
RETRAIN_MODES: tuple[RetrainMode, ...] = get_args(RetrainMode)
# The statistics a column can be measured with; `auto` picks one of them per column.
STATISTICS: tuple[str, ...] = get_args(DriftMethod)[1:]

# Performance metrics of `status.performance` (classification, then regression) and which block a
# policy reads (issue 11). Lower is better for the losses and errors: their drop is value - reference.
PerformanceMetric = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "mape"
]
PerformanceKind = Literal["realized", "estimated", "either"]
PERFORMANCE_METRICS: tuple[PerformanceMetric, ...] = get_args(PerformanceMetric)
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "mae", "rmse", "mape"})
# Bounded in [0, 1], so a drop of theirs is too (spec.policy.performance.maxDrop <= 1).
UNIT_INTERVAL_METRICS: frozenset[str] = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})

# Ready is the controller's (the CronJob is in place); the other two are written by the check pod.
READY_CONDITION = "Ready"
CHECK_CONDITIONS = ("Drifted", "RetrainRecommended")
CONDITION_ORDER = (READY_CONDITION, *CHECK_CONDITIONS)

# At most this many history entries are kept in status (newest first).
HISTORY_LIMIT = 20

# Exit codes of `driftwatch check`, one meaning each (issue 12): a pipeline reading 1 as "--fail-on
# reached" must never see a crash there. The owned Job fails at once on EXIT_UNUSABLE
# (podFailurePolicy): the Error verdict is written, and a retry would only write a second identical one.
EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_UNUSABLE = 2
EXIT_NO_API = 3
EXIT_INTERNAL = 4
