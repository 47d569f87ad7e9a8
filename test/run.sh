#!/usr/bin/env bash
# The whole test suite: installs what it lacks, then runs vitest's unit and integration projects against real
# servers (influxd, aedes, mosquitto, OPC UA and Modbus servers) that the tests start on loopback themselves.
# Extra arguments go to vitest (e.g. `npm test -- test/e2e`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh --test
mkdir -p var
results=var/test-results.json
rm -f "$results"
status=0
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line ("N passed, N failed") that any CI can read, whatever vitest prints above it.
if [ -f "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
    if (r.numTotalTests === 0) process.exitCode = 1;
  ' "$results" || status=1
else
  echo "Tests: 0 passed, 1 failed"
  status=1
fi
exit $status
