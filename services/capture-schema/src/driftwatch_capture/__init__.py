"""The capture dataset contract shared by the inference service (writer) and the drift check (reader)."""
