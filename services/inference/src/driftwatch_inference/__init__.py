"""driftwatch inference service."""
