#!/bin/sh
# The tap suite in two layers, run in the order named (npm test runs both: unit, then process).
#   unit     test/*.test.ts except *.process.test.ts: unit and in-process tests (fastify.inject or a
#            worker app on port 0, real scoring threads), run in parallel. `npm run test:unit`.
#   process  test/*.process.test.ts: tests that start real processes (forestd serve, the CLI, Nginx,
#            Prometheus, Chromium), send signals or load the machine. Run one at a time (--jobs=1)
#            so they do not distort each other's timings on a small machine.
# A new test file that starts processes or sends signals is named *.process.test.ts; any other is
# a unit test. Both layers run even if the first fails; the exit status is non-zero if either did.
set -u
cd "$(dirname "$0")/.."
status=0
for layer in "$@"; do
  case "$layer" in
    unit) tap $(ls test/*.test.ts | grep -v '\.process\.test\.ts$') || status=1 ;;
    process) tap --jobs=1 test/*.process.test.ts || status=1 ;;
    *) echo "test-layers: unknown layer \"$layer\" (unit, process)" >&2; exit 2 ;;
  esac
done
exit $status
