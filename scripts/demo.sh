#!/usr/bin/env bash
# Starts `arbor demo`: four real MariaDB servers on 127.0.0.1 (installed first when missing) and
# an arbor node watching them with embedded defaults (SQLite, single node). Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_mariadb
exec cargo run --release --locked -p arbor -- demo "$@"
