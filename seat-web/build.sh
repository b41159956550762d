#!/usr/bin/env bash
# The browser side of a seat (issue #21): xterm.js and its fit addon from the
# npm registry (pinned by package-lock.json), and the panel's own script and
# stylesheet, copied into one folder the seat server serves as /seat/static/.
#
#   seat-web/build.sh [OUTPUT]    OUTPUT defaults to build/seat-web (relative
#                                 to the repository's root), made afresh.
#
# npm runs only when node_modules is missing or older than package-lock.json,
# with install scripts off: the two packages are plain files.
set -euo pipefail

if ! command -v npm >/dev/null 2>&1; then
  echo "seats need Node.js and npm to fetch xterm.js: apt-get install nodejs npm" >&2
  exit 1
fi

case "${BASH_SOURCE[0]}" in
  */*) here="${BASH_SOURCE[0]%/*}" ;;
  *) here=. ;;
esac
here="$(cd "$here" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-build/seat-web}"
case "$out" in
  /*) ;;
  *) out="$root/$out" ;;
esac

modules="$here/node_modules"
if [ ! -d "$modules" ] || [ "$here/package-lock.json" -nt "$modules" ]; then
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
  touch "$modules"   # npm ci may keep the folder's old time: mark it as fresh
fi

# Made afresh, so nothing from an older build lingers; refuse the folders
# that must never be wiped.
case "$out" in
  "$root" | "$here" | "$root/" | / | "$HOME")
    echo "build.sh: refusing to use $out as the output folder" >&2
    exit 1 ;;
esac
rm -rf "$out"
mkdir -p "$out"

cp "$modules/@xterm/xterm/lib/xterm.js"         "$out/xterm.js"
cp "$modules/@xterm/xterm/css/xterm.css"        "$out/xterm.css"
cp "$modules/@xterm/addon-fit/lib/addon-fit.js" "$out/addon-fit.js"
cp "$here/src/seat.js"                          "$out/seat.js"
cp "$here/src/seat.css"                         "$out/seat.css"
cp "$modules/@xterm/xterm/LICENSE"              "$out/xterm-LICENSE"
cp "$modules/@xterm/addon-fit/LICENSE"          "$out/addon-fit-LICENSE"
