"""The DriftCheck operator: kopf handlers over pure builders, the Kubernetes client, retrain gate, metrics."""
