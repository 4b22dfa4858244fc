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
scratch="$work/root"
dpkg -x "$deb" "$scratch"

fail() { echo "package check failed: $*" >&2; exit 1; }
# `has PATTERN TEXT`: the text is captured first and searched whole. Piping a command into
# `grep -q` is wrong under pipefail: grep exits at the first match, and a writer that has more
# to say dies of SIGPIPE (exit 141), so the check fails or passes by timing.
has() { grep -q -e "$1" <<<"$2"; }

has "Package: arbor" "$(dpkg-deb --info "$deb")" || fail "the package is not named arbor"
for path in usr/bin/arbor lib/systemd/system/arbor.service etc/arbor/arbor.conf.json \
  usr/share/bash-completion/completions/arbor usr/share/zsh/vendor-completions/_arbor \
  usr/share/fish/vendor_completions.d/arbor.fish usr/share/man/man1/arbor.1.gz \
  usr/share/doc/arbor/docs/configuration.md; do
  [ -s "$scratch/$path" ] || fail "$path is missing or empty"
done
has "^arbor .* (commit " "$("$scratch/usr/bin/arbor" --version)" || fail "--version names no commit"
unit="$(cat "$scratch/lib/systemd/system/arbor.service")"
has "^ExecStart=/usr/bin/arbor --config /etc/arbor/arbor.conf.json serve$" "$unit" \
  || fail "the unit does not run arbor serve"
has "^User=arbor$" "$unit" || fail "the unit runs as root"
has "^Restart=on-failure$" "$unit" || fail "no restart"
checked="$(ARBOR_TOPOLOGY_PASSWORD=x "$scratch/usr/bin/arbor" \
  --config "$scratch/etc/arbor/arbor.conf.json" check-config)"
has "^configuration ok" "$checked" || fail "the packaged configuration is not ok: $checked"
has "^.TH arbor 1" "$(zcat "$scratch/usr/share/man/man1/arbor.1.gz")" || fail "bad man page"
has "^.TH arbor-relocate 1" "$(zcat "$scratch/usr/share/man/man1/arbor-relocate.1.gz")" \
  || fail "no man page of its own for a command (arbor-relocate)"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
has "^/etc/arbor/arbor.conf.json$" "$conffiles" || fail "the configuration is not a conffile"
echo "package ok: $(dpkg-deb --field "$deb" Package Version Architecture | tr '\n' ' ')"
