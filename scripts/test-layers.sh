#!/bin/sh
# The tap suite by layer, one folder each, run in the order named (npm test runs all four: unit,
# app, process, deploy). It runs the tests compiled to JavaScript (`npm run build:test` writes
# dist/test/ beside the build): tap's TypeScript loader cost ~0.8 s of CPU per test file and
# compiled every imported source again in every file. Coverage is off (package.json: V8's precise
# coverage slowed the CPU-bound tests by half); `npx tap --no-disable-coverage FILES` turns it on.
#   unit     test/unit/: pure logic, in this process (parsers, the engine, merges, decisions).
#   app      test/app/: in-process servers and threads (fastify.inject or a worker app on port 0,
#            real scoring threads, an in-process S3 or HTTPS server). Both run in parallel, two
#            files per core: they wait on sockets and timers often enough that one per core left
#            the cores idle a third of the time. `npm run test:unit` and `npm run test:app` run one each.
#   process  test/process/: tests that start real processes (forestd serve, the CLI, Prometheus,
#            Chromium), send signals or load the machine. One at a time (--jobs=1) so they do not
#            distort each other's timings on a small machine.
#   deploy   test/deploy/: what runs around forestd (Dockerfile, Helm, kustomize, Argo Rollouts,
#            KServe, a real Nginx in front). One at a time: some start processes.
# A test goes in the folder of the most its code does (the import graph keeps servers out of
# unit/). Every layer runs even if an earlier one failed; the exit status is non-zero if any did.
set -u
case "${1:-}" in -h | --help) echo "scripts/test-layers.sh LAYER...: runs the compiled tap suite by layer, in the order named: unit, app, process, deploy (see the comments at its top)."; exit 0 ;; esac
cd "$(dirname "$0")/.."
status=0
parallel=$(( $(nproc) * 2 ))
for layer in "$@"; do
  case "$layer" in
    unit | app) tap --jobs="$parallel" dist/test/"$layer"/*.test.js || status=1 ;;
    process | deploy) tap --jobs=1 dist/test/"$layer"/*.test.js || status=1 ;;
    *) echo "test-layers: unknown layer \"$layer\" (unit, app, process, deploy)" >&2; exit 2 ;;
  esac
done
exit $status
