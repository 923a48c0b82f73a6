"""driftwatch drift engine and DriftCheck operator."""
