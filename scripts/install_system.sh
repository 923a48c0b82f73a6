#!/usr/bin/env bash
# Install the Debian packages the tests and benchmarks use, when absent: prometheus (prometheus and
# promtool, started by the tests themselves on 127.0.0.1), wrk (load generator for `make bench`), valgrind
# (instruction counts of the request path, scripts/bench/request_cost.py) and a
# Java runtime for the Spark engine's tests (tests/spark; PySpark 4 needs Java 17 or newer).
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: the package's web console assets and node exporter are not needed.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
