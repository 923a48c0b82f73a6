"""The drift check itself: data, quality, calibrated statistics, decision; no kopf, no Kubernetes client."""
