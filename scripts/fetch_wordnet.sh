#!/usr/bin/env bash
# Puts the WordNet 3.0 database files (Debian package wordnet-base) in DEST (default var/wordnet), for
# the synonyms the index build derives (index/wordnet.py). Does nothing when DEST already has them.
# `apt-get download` needs no root; only refreshing the package lists does (done when the first try fails).
set -euo pipefail
DEST=${1:-var/wordnet}
VERSION="1:3.0-37"  # Debian bookworm's; a machine that no longer offers it takes the one it has
if [ -f "$DEST/data.noun" ] && [ -f "$DEST/index.verb" ]; then
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
download() { apt-get download -qq "wordnet-base=$VERSION" 2>/dev/null || apt-get download -qq wordnet-base 2>/dev/null; }
if ! download; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  download || { echo "Could not download Debian's wordnet-base package; the index will be built without synonyms." >&2; exit 1; }
fi
dpkg-deb -x wordnet-base_*.deb extracted
cd - >/dev/null
mkdir -p "$DEST.partial"
cp "$WORK"/extracted/usr/share/wordnet/* "$DEST.partial/"
cp "$WORK"/extracted/usr/share/doc/wordnet-base/copyright "$DEST.partial/copyright"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "WordNet 3.0 database files in $DEST ($(dpkg-deb -f "$WORK"/wordnet-base_*.deb Version 2>/dev/null || echo "$VERSION"))."
