"""The drift check as a Prefect flow (docs/prefect.md): the engine, decision and status of `driftwatch check`.

Needs the extra `driftwatch-controller[prefect]` (the project's .venv-prefect). Nothing here imports
Prefect at package import: `driftwatch --help` works without it; `flow`, `command` import it lazily.
"""
