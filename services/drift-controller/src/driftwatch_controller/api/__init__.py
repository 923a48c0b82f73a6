"""The DriftCheck contract: the typed spec, the status it gets, the shared names; no cluster, no engine."""
