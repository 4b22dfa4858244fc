#!/usr/bin/env bash
# Starts `arbor demo`: a simulated fleet of three clusters (MariaDB 10.11, MySQL 8.0, MySQL 8.4)
# and an arbor node watching and recovering them with embedded defaults (SQLite, single node).
# Nothing to install. `bash scripts/demo.sh --mariadb` uses four real MariaDB servers instead
# (installed first when missing). Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if [[ " $* " == *" --mariadb "* ]]; then
  ensure_mariadb
fi
exec cargo run --release --locked -p arbor -- demo "$@"
