#!/usr/bin/env bash
# Vendor MapLibre GL JS from the npm registry into api/static/vendor/maplibre-gl/, so the web
# map works with no internet. Usage: scripts/vendor_maplibre.sh [VERSION]
#
# The version is pinned (not "latest") so that two runs give the same files. The tarball is
# fetched from the registry, checked against the registry's sha512 integrity and sha1 shasum,
# and only the minified ES-module dist (no source maps, no -dev builds), the CSS and the
# licence are kept. VENDOR.md is rewritten with the version, the licence and each file's sha256.
set -euo pipefail

VERSION="${1:-6.17.0}"
PKG="maplibre-gl"
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/api/static/vendor/$PKG"
# Version 6 ships ES modules only; the shared chunk may be empty but the loader can name it.
FILES=(maplibre-gl.mjs maplibre-gl-worker.mjs maplibre-gl-shared.mjs maplibre-gl.css)

for tool in curl python3 tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "vendor_maplibre: needs $tool" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The version's metadata from the registry: tarball URL, integrity (sha512), shasum (sha1).
curl -fsSL "$REGISTRY/$PKG/$VERSION" -o "$work/meta.json"
read -r tarball integrity shasum licence < <(python3 - "$work/meta.json" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
dist = meta["dist"]
print(dist["tarball"], dist["integrity"], dist["shasum"], meta.get("license", "?"))
PY
)
[[ "$licence" == "BSD-3-Clause" ]] || { echo "vendor_maplibre: licence is $licence" >&2; exit 1; }

curl -fsSL "$tarball" -o "$work/pkg.tgz"

# Check both digests the registry publishes before anything is unpacked.
python3 - "$work/pkg.tgz" "$integrity" "$shasum" <<'PY'
import base64, hashlib, sys
path, integrity, shasum = sys.argv[1:]
data = open(path, "rb").read()
algo, _, want = integrity.partition("-")
if algo != "sha512":
    sys.exit(f"vendor_maplibre: unexpected integrity algorithm {algo!r}")
got = base64.b64encode(hashlib.sha512(data).digest()).decode()
if got != want:
    sys.exit(f"vendor_maplibre: sha512 mismatch: {got} != {want}")
if hashlib.sha1(data).hexdigest() != shasum:
    sys.exit("vendor_maplibre: sha1 shasum mismatch")
PY

members=()
for f in "${FILES[@]}"; do members+=("package/dist/$f"); done
tar -xzf "$work/pkg.tgz" -C "$work" package/LICENSE.txt "${members[@]}"

rm -rf "$DEST"
mkdir -p "$DEST"
for f in "${FILES[@]}"; do cp "$work/package/dist/$f" "$DEST/$f"; done
cp "$work/package/LICENSE.txt" "$DEST/LICENSE.txt"

{
  echo "# MapLibre GL JS $VERSION (vendored)"
  echo
  echo "- package: \`$PKG@$VERSION\` from the npm registry"
  echo "- tarball: $tarball"
  echo "- integrity (checked): \`$integrity\`"
  echo "- shasum (checked): \`$shasum\`"
  echo "- licence: BSD-3-Clause, full text in LICENSE.txt"
  echo "- refresh: \`scripts/vendor_maplibre.sh [VERSION]\` (do not edit these files by hand)"
  echo
  echo "Only the minified ES-module build is kept (no source maps, no -dev builds). The page"
  echo "loads \`maplibre-gl.mjs\` with \`<script type=\"module\">\`; it starts its web worker from"
  echo "\`maplibre-gl-worker.mjs\` next to itself."
  echo
  echo "| file | bytes | sha256 |"
  echo "|---|---:|---|"
  for f in "${FILES[@]}" LICENSE.txt; do
    echo "| $f | $(stat -c %s "$DEST/$f") | \`$(sha256sum "$DEST/$f" | cut -d' ' -f1)\` |"
  done
} > "$DEST/VENDOR.md"

echo "vendored $PKG $VERSION into ${DEST#"$ROOT"/}"
