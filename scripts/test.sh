#!/usr/bin/env bash
# Runs every arbor check and test, on a fresh machine too: installs what the tests need when it
# is missing (MariaDB, whose tests start mariadbd processes on 127.0.0.1, and Chromium, for the
# web UI test), then runs rustfmt, clippy with warnings as errors, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_test_packages

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== layering (module cycles, crate dependencies)"
python3 scripts/check-layering.py

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The binary without the demos (the sandbox and the simulated fleet): what a production build
# may choose.
cargo clippy -p arbor --no-default-features --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doc tests.
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== Debian package (built from the tested binary, installed into a scratch root)"
bash scripts/check-package.sh target/debug/arbor

echo "== API fuzz (schemathesis against arbor demo)"
scripts/fuzz-api.sh
