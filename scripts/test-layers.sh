#!/bin/sh
# The tap suite in two layers, run in the order named (npm test runs both: unit, then process).
# It runs the tests compiled to JavaScript (`npm run build:test` writes dist/test/ beside the
# build): tap's TypeScript loader cost ~0.8 s of CPU per test file and compiled every imported
# source again in every file. Coverage is off (package.json: V8's precise coverage slowed the
# CPU-bound tests by half); `npx tap --no-disable-coverage FILES` turns it on for a look.
#   unit     test/*.test.ts except *.process.test.ts: unit and in-process tests (fastify.inject or a
#            worker app on port 0, real scoring threads), run in parallel, two files per core:
#            they wait on sockets and timers often enough that one per core left the cores
#            idle a third of the time. `npm run test:unit`.
#   process  test/*.process.test.ts: tests that start real processes (forestd serve, the CLI, Nginx,
#            Prometheus, Chromium), send signals or load the machine. Run one at a time (--jobs=1)
#            so they do not distort each other's timings on a small machine.
# A new test file that starts processes or sends signals is named *.process.test.ts; any other is
# a unit test. Both layers run even if the first fails; the exit status is non-zero if either did.
set -u
cd "$(dirname "$0")/.."
status=0
unit_jobs=$(( $(nproc) * 2 ))
for layer in "$@"; do
  case "$layer" in
    unit) tap --jobs="$unit_jobs" $(ls dist/test/*.test.js | grep -v '\.process\.test\.js$') || status=1 ;;
    process) tap --jobs=1 dist/test/*.process.test.js || status=1 ;;
    *) echo "test-layers: unknown layer \"$layer\" (unit, process)" >&2; exit 2 ;;
  esac
done
exit $status
