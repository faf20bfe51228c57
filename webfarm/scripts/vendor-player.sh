#!/usr/bin/env bash
# Copy asciinema-player, at the version package-lock.json pins, into the docs so that the
# tutorial plays its recordings offline (no CDN). Run from the project's top folder:
#
#   bash webfarm/scripts/vendor-player.sh
#
# It runs `npm ci --ignore-scripts` (exactly what package-lock.json lists, no install
# scripts), then copies the player's browser bundle, its stylesheet and the licences (its own
# and that of solid-js, which the bundle contains) into docs/assets/vendor/asciinema-player/.
# Commit that folder; tests/unit/test_recording.py checks its version against the lock file.
set -euo pipefail

root=$(pwd)
if [ ! -f "$root/package-lock.json" ] || [ ! -f "$root/mkdocs.yml" ]; then
  echo "vendor-player.sh: run it from the project's top folder (package-lock.json, mkdocs.yml)" >&2
  exit 2
fi
command -v npm >/dev/null || {
  echo "vendor-player.sh: npm is not installed. Fix: sudo apt-get install npm" >&2
  exit 2
}

npm ci --ignore-scripts --no-audit --no-fund
pkg="$root/node_modules/asciinema-player"
dest="$root/docs/assets/vendor/asciinema-player"
version=$(node -p "require('$pkg/package.json').version")
locked=$(node -p "require('$root/package-lock.json').packages['node_modules/asciinema-player'].version")
if [ "$version" != "$locked" ]; then
  echo "vendor-player.sh: node_modules has asciinema-player $version, the lock file $locked" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$pkg/dist/bundle/asciinema-player.min.js" "$pkg/dist/bundle/asciinema-player.css" \
  "$pkg/LICENSE" "$dest/"
cp "$root/node_modules/solid-js/LICENSE" "$dest/LICENSE.solid-js"
rm -f "$dest/README.md"
cat >"$dest/README.txt" <<README
asciinema-player $version (Apache-2.0, see LICENSE), from npm, pinned by package-lock.json.
Its bundle includes solid-js (MIT, see LICENSE.solid-js).
Copied by webfarm/scripts/vendor-player.sh; do not edit these files by hand.
README
echo "asciinema-player $version copied into ${dest#"$root"/}"
