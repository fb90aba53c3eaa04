#!/usr/bin/env bash
# Make this machine ready for restore-db (Debian 12 / Ubuntu), idempotently.
#
#   1. system packages: PostgreSQL server + PostGIS (raster) + pgRouting + PL/Python,
#      numpy for the server's Python, raster2pgsql, GDAL tools, python3-venv, and
#      QGIS's Python bindings with its data providers (python3-qgis, qgis-providers:
#      tests/publish/test_bi_qgis.py opens the bi views in QGIS, headless), a Chinese font
#      for the report's maps (fonts-wqy-microhei), Chromium for the report's browser test, and pgTAP with
#      pg_prove for the SQL tests of sql/tests (tests/test_sql_pgtap.py; the pgtap
#      extension is created in test databases only, never by the migrations);
#   2. .venv in the repository root with `pip install -e '.[test,mspa]'`.
#
# The second run only checks and takes about a second. Environment:
#   PYTHON              interpreter for the venv (default python3; needs >= 3.11)
#   PG_MAJOR            PostgreSQL major version to install (default: the newest
#                       installed, else the distribution's default, else 15)
#   RESTORE_DB_APT_EXTRA  extra apt packages to install in the same step (e.g. "make")
#   SETUP_FORCE_PIP=1   reinstall the Python packages even when up to date
set -euo pipefail

start=$(date +%s.%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.restore-db-stamp"
PY=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# --- how to run apt-get ------------------------------------------------------------
SUDO=()
can_apt() {
    if [ "$(id -u)" -eq 0 ]; then
        return 0
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
        return 0
    fi
    return 1
}
apt_updated=0
apt_update() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
}

# --- which PostgreSQL major -------------------------------------------------------
newest_installed_pg() {
    local d best=""
    for d in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$d" ] || continue
        d=${d#/usr/lib/postgresql/}; d=${d%%/*}
        case $d in *[!0-9]*) continue ;; esac
        if [ -z "$best" ] || [ "$d" -gt "$best" ]; then best=$d; fi
    done
    printf '%s' "$best"
}
distro_default_pg() {
    # `postgresql` is the distribution's metapackage; it depends on postgresql-NN
    apt-cache depends postgresql 2>/dev/null \
        | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1
}
pg_candidate_exists() {
    local policy
    policy=$(apt-cache policy "postgresql-$1-postgis-3" 2>/dev/null) || return 1
    printf '%s\n' "$policy" | grep -q 'Candidate: [^(]'
}

PGV=${PG_MAJOR:-$(newest_installed_pg)}
if [ -z "$PGV" ]; then
    # nothing installed yet: ask apt (refresh the lists on a brand-new machine first)
    if ! pg_candidate_exists 15 && can_apt; then apt_update; fi
    if pg_candidate_exists 15; then
        PGV=15
    else
        PGV=$(distro_default_pg)
        PGV=${PGV:-15}
    fi
fi

# --- what is missing ---------------------------------------------------------------
missing=()
need() { missing+=("$1"); }
ext=/usr/share/postgresql/$PGV/extension
[ -x "/usr/lib/postgresql/$PGV/bin/initdb" ] || need "postgresql-$PGV"
[ -f "$ext/postgis_raster.control" ]          || need "postgresql-$PGV-postgis-3"
[ -f "$ext/pgrouting.control" ]               || need "postgresql-$PGV-pgrouting"
[ -f "$ext/plpython3u.control" ]              || need "postgresql-plpython3-$PGV"
command -v raster2pgsql >/dev/null 2>&1       || need postgis
command -v gdalinfo >/dev/null 2>&1           || need gdal-bin
# numpy for PL/Python: the server runs Debian's /usr/bin/python3, never a venv
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || need python3-numpy
# QGIS for tests/publish/test_bi_qgis.py: its bindings belong to Debian's /usr/bin/python3 too;
# the PostgreSQL data provider is the separate package qgis-providers
[ -f /usr/lib/python3/dist-packages/qgis/core/__init__.py ] || need python3-qgis
[ -f /usr/lib/qgis/plugins/libprovider_postgres.so ]        || need qgis-providers
# a Chinese font for the report's maps (`restore-db report --lang zh`), and Chromium, the browser that
# tests/publish/test_report_browser.py renders the report in
fc-list 2>/dev/null | grep -qi 'wqy-microhei\|NotoSansCJK\|NotoSerifCJK' || need fonts-wqy-microhei
command -v chromium >/dev/null 2>&1           || need chromium
# pgTAP for the SQL tests (sql/tests): the extension, and pg_prove that runs the files
[ -f "$ext/pgtap.control" ]                   || need "postgresql-$PGV-pgtap"
command -v pg_prove >/dev/null 2>&1           || need libtap-parser-sourcehandler-pgtap-perl
if [ -z "${PYTHON:-}" ] && ! command -v python3 >/dev/null 2>&1; then
    need python3
    need python3-venv
elif [ ! -x "$VENV/bin/python" ] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need python3-venv   # Debian strips ensurepip out of python3.X; `python3 -m venv` fails without it
fi
for pkg in ${RESTORE_DB_APT_EXTRA:-}; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need "$pkg"
done

if [ ${#missing[@]} -gt 0 ]; then
    cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if ! can_apt; then
        printf 'setup: missing system packages: %s\n' "${missing[*]}" >&2
        printf 'setup: run as root (or with sudo), then run this script again:\n' >&2
        printf '    apt-get update && %s\n' "$cmd" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    apt_update
    # postgresql-plpython3-NN may pull a newer postgresql-NN too; running clusters then need a restart
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -x "/usr/lib/postgresql/$PGV/bin/initdb" ] || die "PostgreSQL $PGV was not installed"
    say "system packages installed"
else
    say "system packages: ok (PostgreSQL $PGV, PostGIS raster, pgRouting, PL/Python, numpy, GDAL, QGIS, pgTAP, Chromium, CJK font)"
fi

# --- Python venv ---------------------------------------------------------------------
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "$VENV is broken: recreating it"
    rm -rf "$VENV"
fi
if [ ! -e "$VENV" ]; then
    command -v "$PY" >/dev/null 2>&1 || die "no Python interpreter '$PY' (set PYTHON=...)"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$("$PY" -V 2>&1) is too old: restore-db needs Python >= 3.11 (set PYTHON=...)"
    say "creating .venv with $("$PY" -V 2>&1) ($(command -v "$PY"))"
    "$PY" -m venv "$VENV"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" = "$have" ] && [ -x "$VENV/bin/restore-db" ] && [ -z "${SETUP_FORCE_PIP:-}" ]; then
    say "python packages: up to date (pyproject.toml unchanged)"
else
    rm -f "$STAMP"
    say "pip install -e '.[test,mspa]' (takes about a minute the first time)"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test,mspa]'
    printf '%s\n' "$want" > "$STAMP"
    say "python packages installed"
fi

say "ready in $(elapsed) s"
