"""Moved to `driftwatch_demo.synthetic` (issue 9): an alias kept only for the tests of work in flight
that still import this path (drift-controller tests, tests/drift, tests/operator). Nothing serves from
here; delete it once `grep -r driftwatch_inference.synthetic` finds no importer."""

from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL, TARGET, Scenario, generate, records

__all__ = ["CATEGORICAL", "NUMERICAL", "TARGET", "Scenario", "generate", "records"]
