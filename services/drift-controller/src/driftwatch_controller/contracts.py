"""Names shared by the controller, the check pod and the chart: CRD coordinates, annotations, labels."""

from __future__ import annotations

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

VERDICTS = ("NoDrift", "Drift", "InsufficientData", "DataQualityIssue", "Error")
RECOMMENDATIONS = ("None", "Investigate", "Retrain")
RETRAIN_MODES = ("Off", "Manual", "Automatic")

# At most this many history entries are kept in status (newest first).
HISTORY_LIMIT = 20
