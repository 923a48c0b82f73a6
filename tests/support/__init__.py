"""Test-side helpers shared by the cross-service tests (process launchers, emulators)."""
