#!/usr/bin/env bash
# Runs every arbor check and test, on a fresh machine too: installs MariaDB's server and client
# when `mariadbd` is missing (the real-server tests start mariadbd processes on 127.0.0.1),
# then runs rustfmt, clippy with warnings as errors, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_mariadb

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doc tests.
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi
