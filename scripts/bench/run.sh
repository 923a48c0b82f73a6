#!/usr/bin/env bash
# `make bench`: every benchmark, one after the other (they share 2 cores; never run them in parallel).
# Each prints a Markdown table; copy the tables into docs/benchmarks.md with the machine and date.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
mkdir -p scripts/bench/out
# nannyml_compare builds .venv-nannyml from requirements/nannyml.txt when absent (also run by the
# integration test tests/drift/test_cbpe_against_nannyml.py).
for bench in inference request_cost capture_kill drift nannyml_compare sketches spark reconcile; do
  if [ -f "scripts/bench/${bench}.py" ]; then
    echo "== ${bench} ==" && $PY "scripts/bench/${bench}.py" | tee "scripts/bench/out/${bench}.md"
  fi
done
# The same reconcile rounds against the real kube-apiserver of the cluster tests (make cluster-tools).
echo "== reconcile --api real ==" && $PY scripts/bench/reconcile.py --api real | tee scripts/bench/out/reconcile-real.md
