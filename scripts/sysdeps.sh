#!/usr/bin/env bash
# Install the system packages gisgrid needs (Debian/Ubuntu): PostgreSQL with PostGIS,
# gdal-bin (ogrinfo, the real-client tests), python3-venv, and with --browser Chromium and
# CJK fonts (the web map's browser tests; Chinese labels render as boxes without them), and
# with --bench wrk (the compiled load generator of the API, tile and live benchmarks; `make test`
# installs it too, for tests/test_bench_live.py).
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

want_browser=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --bench) want_bench=1 ;;
    *) echo "sysdeps.sh: unknown flag $arg; expected --browser and/or --bench" >&2; exit 2 ;;
  esac
done

have_cjk_fonts() {
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" ||
    dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed"
}
have_postgis() { ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; }

need=()
if ! have_postgis; then
  # Prefer the PostGIS build for a PostgreSQL that is already installed (newest first).
  majors=$(ls /usr/lib/postgresql 2>/dev/null | sort -rn || true)
  pick=""
  if command -v apt-cache >/dev/null; then
    for m in $majors; do
      if apt-cache show "postgresql-$m-postgis-3" >/dev/null 2>&1; then pick="postgresql-$m-postgis-3"; break; fi
    done
  fi
  if [[ -n "$pick" ]]; then need+=("$pick"); else need+=(postgresql postgresql-postgis); fi
fi
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [[ $want_browser -eq 1 ]]; then
  command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || need+=(chromium)
  # CJK glyphs, so Chinese labels in the web map's screenshots are not boxes
  have_cjk_fonts || need+=(fonts-noto-cjk)
fi

if [[ $want_bench -eq 1 ]]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi

if [[ ${#need[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  echo "gisgrid needs these system packages: ${need[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi

echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# A PostGIS package name can only be resolved after the update on a fresh machine.
if ! have_postgis && [[ " ${need[*]} " == *" postgresql postgresql-postgis "* ]]; then
  for m in $(ls /usr/lib/postgresql 2>/dev/null | sort -rn); do
    if apt-cache show "postgresql-$m-postgis-3" >/dev/null 2>&1; then
      need=("${need[@]/postgresql-postgis/postgresql-$m-postgis-3}"); break
    fi
  done
fi
apt-get install -y -q --no-install-recommends "${need[@]}"
have_postgis || { echo "PostGIS still missing after install" >&2; exit 1; }
