#!/usr/bin/env bash
# Fails when nbdev_export would change fcot/: the notebooks in nbs/ are the source of truth.
set -euo pipefail
cd "$(dirname "$0")/.."
snap=$(mktemp -d); cp -a fcot "$snap/fcot"
.venv/bin/nbdev_export
if ! diff -r -x __pycache__ "$snap/fcot" fcot; then
  rm -rf fcot; cp -a "$snap/fcot" fcot; rm -rf "$snap"
  echo "FAIL: fcot/ is out of sync with nbs/ (nbdev_export changes the files above). Edit the notebooks, run nbdev_export, commit both." >&2
  exit 1
fi
rm -rf "$snap"; echo "fcot/ is in sync with nbs/"
