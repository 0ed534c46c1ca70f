#!/usr/bin/env bash
# Vendor files of one npm package into api/static/vendor/<package>/, so the pages work with no
# internet. Usage: scripts/vendor_npm.sh PACKAGE [VERSION]
#
# Each package the pages use is one entry of the table below: the pinned version, the licence
# the registry must report, and the files kept (paths inside the tarball's package/ folder).
# The tarball is checked against the registry's sha512 integrity and sha1 shasum before it is
# unpacked; VENDOR.md is rewritten with the version, the licence and each file's sha256.
set -euo pipefail

PKG="${1:?usage: scripts/vendor_npm.sh PACKAGE [VERSION]}"
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# package -> "version|licence|file file ..." (files relative to package/ in the tarball)
declare -A TABLE=(
  [maplibre-gl]="6.17.0|BSD-3-Clause|dist/maplibre-gl.mjs dist/maplibre-gl-worker.mjs dist/maplibre-gl-shared.mjs dist/maplibre-gl.css"
  [terra-draw]="1.35.0|MIT|dist/terra-draw.modern.js"
  [terra-draw-maplibre-gl-adapter]="1.4.1|MIT|dist/terra-draw-maplibre-gl-adapter.modern.js"
  [idb-keyval]="6.3.0|Apache-2.0|dist/index.js"
  [htmx.org]="2.0.11|0BSD|dist/htmx.min.js"
)
# Packages whose tarball ships no licence file (terra-draw's monorepo keeps one LICENSE at
# its root): package -> "copy kept in this repository|where that copy was taken from".
declare -A LICENCE_COPY=(
  [terra-draw]="scripts/licences/terra-draw.LICENSE|https://github.com/JamesLMilner/terra-draw/blob/main/LICENSE"
  [terra-draw-maplibre-gl-adapter]="scripts/licences/terra-draw.LICENSE|https://github.com/JamesLMilner/terra-draw/blob/main/LICENSE"
)
# what the page does with the files, written into VENDOR.md
declare -A USE=(
  [maplibre-gl]="Only the minified ES-module build is kept (no source maps, no -dev builds). The page
loads \`maplibre-gl.mjs\` with \`<script type=\"module\">\`; it starts its web worker from
\`maplibre-gl-worker.mjs\` next to itself."
  [terra-draw]="Only the ES-module build (\`terra-draw.modern.js\`, the package's default export) is kept.
The planner mode (api/static/planner.js) imports it as \`terra-draw\` through the page's import
map, so the adapter's own \`import ... from \"terra-draw\"\` resolves to this file."
  [terra-draw-maplibre-gl-adapter]="Only the ES-module build is kept. It imports the bare name \`terra-draw\`, which
the page's import map (api/static/index.html) points at /static/vendor/terra-draw/."
  [idb-keyval]="Only the ES-module build \`dist/index.js\` is kept. The field app (\`api/static/field\`)
imports it to keep reports waiting for the network in IndexedDB."
  [htmx.org]="The 2.0 line (4.x changed its request and event model). Only the minified build is
kept; the console loads it with a plain \`<script>\` and polls its queue with it."
)

[[ -n "${TABLE[$PKG]:-}" ]] || { echo "vendor_npm: $PKG is not in the table" >&2; exit 1; }
IFS='|' read -r pinned want_licence files <<<"${TABLE[$PKG]}"
VERSION="${2:-$pinned}"
DEST="$ROOT/api/static/vendor/$PKG"
read -r -a FILES <<<"$files"

for tool in curl python3 tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "vendor_npm: needs $tool" >&2; exit 1; }
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
[[ "$licence" == "$want_licence" ]] || { echo "vendor_npm: $PKG licence is $licence" >&2; exit 1; }

curl -fsSL "$tarball" -o "$work/pkg.tgz"

# Check both digests the registry publishes before anything is unpacked.
python3 - "$work/pkg.tgz" "$integrity" "$shasum" <<'PY'
import base64, hashlib, sys
path, integrity, shasum = sys.argv[1:]
data = open(path, "rb").read()
algo, _, want = integrity.partition("-")
if algo != "sha512":
    sys.exit(f"vendor_npm: unexpected integrity algorithm {algo!r}")
got = base64.b64encode(hashlib.sha512(data).digest()).decode()
if got != want:
    sys.exit(f"vendor_npm: sha512 mismatch: {got} != {want}")
if hashlib.sha1(data).hexdigest() != shasum:
    sys.exit("vendor_npm: sha1 shasum mismatch")
PY

tar -xzf "$work/pkg.tgz" -C "$work"
licence_file="$(cd "$work/package" && ls | grep -iE '^licen[cs]e' | head -1 || true)"
licence_note=""
if [[ -z "$licence_file" && -n "${LICENCE_COPY[$PKG]:-}" ]]; then
  IFS='|' read -r copy copy_from <<<"${LICENCE_COPY[$PKG]}"
  licence_file="$(basename "$copy" | sed 's/^.*\.\(LICEN[CS]E\)$/\1/')"
  cp "$ROOT/$copy" "$work/package/$licence_file"
  licence_note="the npm tarball ships no licence file; $licence_file is $copy, copied from $copy_from"
fi
[[ -n "$licence_file" ]] || { echo "vendor_npm: $PKG has no licence file" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$DEST"
names=()
for f in "${FILES[@]}"; do
  cp "$work/package/$f" "$DEST/$(basename "$f")"
  names+=("$(basename "$f")")
done
cp "$work/package/$licence_file" "$DEST/$licence_file"

{
  echo "# $PKG $VERSION (vendored)"
  echo
  echo "- package: \`$PKG@$VERSION\` from the npm registry"
  echo "- tarball: $tarball"
  echo "- integrity (checked): \`$integrity\`"
  echo "- shasum (checked): \`$shasum\`"
  echo "- licence: $licence, full text in $licence_file"
  [[ -z "$licence_note" ]] || echo "- licence text: $licence_note"
  echo "- refresh: \`scripts/vendor_npm.sh $PKG [VERSION]\` (do not edit these files by hand)"
  if [[ -n "${USE[$PKG]:-}" ]]; then
    echo
    echo "${USE[$PKG]}"
  fi
  echo
  echo "| file | bytes | sha256 |"
  echo "|---|---:|---|"
  for f in "${names[@]}" "$licence_file"; do
    echo "| $f | $(stat -c %s "$DEST/$f") | \`$(sha256sum "$DEST/$f" | cut -d' ' -f1)\` |"
  done
} > "$DEST/VENDOR.md"

echo "vendored $PKG $VERSION into ${DEST#"$ROOT"/}"
