#!/usr/bin/env bash
# property-nightly.sh [CASES] [SEED]
#
# The property tests at nightly size: CASES generated specs (default 2000) through every real tool
# (promtool unit tests and the one-config-per-run tools included, which CI gives only a share),
# and ten times as many through the in-process invariants, with a fresh random seed unless SEED is
# given. A failure prints the seed and keeps the failing specs (OTELKIT_PROPERTY_KEEP=1): copy the
# failing spec into test/fixtures/property/ so every later run checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-2000}
seed=${2:-$((RANDOM * 32768 + RANDOM))}
echo "property-nightly: $cases cases, seed $seed" >&2
OTELKIT_PROPERTY_CASES=$cases OTELKIT_PROPERTY_RUNS=$((cases * 10)) OTELKIT_PROPERTY_SEED=$seed \
  OTELKIT_PROPERTY_UNIT_TESTS=$cases OTELKIT_PROPERTY_PER_FILE_CHECKS=$cases \
  OTELKIT_PROPERTY_KEEP=1 NODE_OPTIONS=--experimental-vm-modules \
  npx jest --testTimeout=7200000 test/property
