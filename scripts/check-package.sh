#!/usr/bin/env bash
# Builds the Debian package from BINARY (default: the debug build the tests used) and installs
# it into a scratch root (dpkg -x, no system change), then checks what a user gets: the binary
# runs and names its commit, the unit starts `arbor serve` with the packaged configuration,
# which check-config accepts, and the completions and man page are there.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/debug/arbor}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
deb="$(scripts/package-deb.sh "$binary" "$work/arbor.deb")"
dpkg-deb --info "$deb" | grep -q "Package: arbor"
scratch="$work/root"
dpkg -x "$deb" "$scratch"

fail() { echo "package check failed: $*" >&2; exit 1; }
for path in usr/bin/arbor lib/systemd/system/arbor.service etc/arbor/arbor.conf.json \
  usr/share/bash-completion/completions/arbor usr/share/zsh/vendor-completions/_arbor \
  usr/share/fish/vendor_completions.d/arbor.fish usr/share/man/man1/arbor.1.gz \
  usr/share/doc/arbor/docs/configuration.md; do
  [ -s "$scratch/$path" ] || fail "$path is missing or empty"
done
"$scratch/usr/bin/arbor" --version | grep -q "^arbor .* (commit " || fail "--version names no commit"
grep -q "^ExecStart=/usr/bin/arbor --config /etc/arbor/arbor.conf.json serve$" \
  "$scratch/lib/systemd/system/arbor.service" || fail "the unit does not run arbor serve"
grep -q "^User=arbor$" "$scratch/lib/systemd/system/arbor.service" || fail "the unit runs as root"
grep -q "^Restart=on-failure$" "$scratch/lib/systemd/system/arbor.service" || fail "no restart"
ARBOR_TOPOLOGY_PASSWORD=x "$scratch/usr/bin/arbor" --config "$scratch/etc/arbor/arbor.conf.json" \
  check-config | grep -q "^configuration ok" || fail "the packaged configuration is not ok"
zcat "$scratch/usr/share/man/man1/arbor.1.gz" | grep -q "^.TH arbor 1" || fail "bad man page"
dpkg-deb --field "$deb" Conffiles 2>/dev/null | grep -q arbor.conf.json \
  || dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -q /etc/arbor/arbor.conf.json \
  || fail "the configuration is not a conffile"
echo "package ok: $(dpkg-deb --field "$deb" Package Version Architecture | tr '\n' ' ')"
