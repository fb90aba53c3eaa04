#!/usr/bin/env bash
# Build the peer of `make bench-invest`: natcap.invest (InVEST) in its own venv, .venv-invest,
# idempotently. InVEST is a benchmark peer and a test oracle, never a dependency of restore-db.
#
# PyPI has only sdists of natcap.invest and pygeoprocessing for Linux, and they need numpy >= 2 to
# build, while at run time they need GDAL's Python bindings, which on Debian (python3-gdal) are built
# against Debian's numpy (1.24 on Debian 12). So:
#
#   1. system packages (apt): python3-gdal, python3-numpy, python3-venv, build-essential, python3-dev,
#      libgdal-dev (the setup.py of both runs gdal-config);
#   2. .venv-invest-build: a plain venv of Debian's /usr/bin/python3 in which
#      `pip wheel --no-deps` builds pygeoprocessing (isolated: pip gets numpy >= 2 for the build) and
#      then natcap.invest (in the build venv itself: numpy >= 2 and pygeoprocessing installed there), with
#      Cython < 3.1 (pygeoprocessing's routing.pyx fails with "Cannot assign type 'double' to 'int'"
#      under Cython 3.3), into .venv-invest-build/wheels;
#   3. .venv-invest: a --system-site-packages venv of /usr/bin/python3 (so `osgeo` is Debian's), the
#      two wheels installed with their dependencies, numpy pinned to Debian's version (otherwise pip
#      installs numpy 2 and `from osgeo import gdal_array` fails with
#      "numpy.core.multiarray failed to import").
#
# A second run only checks (about a second). Environment:
#   INVEST_VERSION            natcap.invest version (default 3.20.2)
#   PYGEOPROCESSING_VERSION   pygeoprocessing version (default 2.4.11, the one 3.20.2 was released with)
#   INVEST_FORCE=1            rebuild the wheels and the venv
set -euo pipefail

start=$(date +%s.%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
INVEST_VERSION=${INVEST_VERSION:-3.20.2}
PYGEOPROCESSING_VERSION=${PYGEOPROCESSING_VERSION:-2.4.11}
VENV="$ROOT/.venv-invest"
BUILD="$ROOT/.venv-invest-build"
WHEELS="$BUILD/wheels"
STAMP="$VENV/.invest-stamp"
SYSPY=/usr/bin/python3

say() { printf 'setup-invest: %s\n' "$*"; }
die() { printf 'setup-invest: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# --- system packages, as scripts/setup.sh installs them --------------------------------
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
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for pkg in python3-gdal python3-numpy python3-venv python3-dev build-essential libgdal-dev; do
    installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if ! can_apt; then
        printf 'setup-invest: missing system packages: %s\n' "${missing[*]}" >&2
        printf 'setup-invest: run as root (or with sudo), then run this script again:\n' >&2
        printf '    apt-get update && %s\n' "$cmd" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$SYSPY" ] || die "no $SYSPY"
SYS_NUMPY=$("$SYSPY" -c 'import numpy; print(numpy.__version__)') || die "Debian's numpy does not import"
"$SYSPY" -c 'from osgeo import gdal_array' 2>/dev/null || die "Debian's GDAL bindings (python3-gdal) do not import"

# --- already built? ------------------------------------------------------------------
want="natcap.invest==$INVEST_VERSION pygeoprocessing==$PYGEOPROCESSING_VERSION numpy==$SYS_NUMPY $("$SYSPY" -V 2>&1)"
check='import natcap.invest, pygeoprocessing, numpy; from osgeo import gdal, gdal_array
from natcap.invest import annual_water_yield, carbon
print(natcap.invest.__version__, pygeoprocessing.__version__, numpy.__version__, gdal.__version__)'
# the quick check: the stamp, the installed versions, Debian's GDAL bindings on Debian's numpy
quick='from importlib.metadata import version as v; import numpy; from osgeo import gdal, gdal_array
print(v("natcap.invest"), v("pygeoprocessing"), numpy.__version__, gdal.__version__)'
if [ -z "${INVEST_FORCE:-}" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ] \
        && versions=$("$VENV/bin/python" -c "$quick" 2>/dev/null) \
        && [ "${versions%% *}" = "$INVEST_VERSION" ]; then
    set -- $versions
    say "natcap.invest $1 (pygeoprocessing $2, numpy $3, GDAL $4) in .venv-invest: up to date ($(elapsed) s)"
    exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT

# --- 1. the wheels, built against numpy >= 2 ---------------------------------------------
have_wheel() { compgen -G "$WHEELS/$1-$2-*.whl" >/dev/null; }
if [ -n "${INVEST_FORCE:-}" ] || ! have_wheel natcap_invest "$INVEST_VERSION" \
        || ! have_wheel pygeoprocessing "$PYGEOPROCESSING_VERSION"; then
    [ -x "$BUILD/bin/python" ] || { say "creating .venv-invest-build"; "$SYSPY" -m venv "$BUILD"; }
    mkdir -p "$WHEELS"
    # PIP_CONSTRAINT applies to the isolated build environments too: numpy >= 2 (what the sdists ask for;
    # extensions built against numpy 2 also run on numpy 1.x) and Cython < 3.1.
    printf 'cython<3.1\nnumpy>=2,<2.3\n' > "$constraints"
    say "building the wheels of natcap.invest $INVEST_VERSION and pygeoprocessing $PYGEOPROCESSING_VERSION" \
        "(a few minutes)"
    # pygeoprocessing first (isolated build; its Cython routing takes most of the time)
    have_wheel pygeoprocessing "$PYGEOPROCESSING_VERSION" && [ -z "${INVEST_FORCE:-}" ] \
        || PIP_CONSTRAINT="$constraints" "$BUILD/bin/python" -m pip wheel -q --no-deps -w "$WHEELS" \
            "pygeoprocessing==$PYGEOPROCESSING_VERSION"
    # natcap.invest needs pygeoprocessing to build (its Cython cores cimport it); an isolated build would
    # install pygeoprocessing's dependencies too, among them GDAL, whose sdist (3.13) refuses Debian's
    # libgdal 3.6. So its build requirements go into the build venv (setuptools >= 77 for its PEP 639
    # license field), pygeoprocessing without dependencies,
    # and natcap.invest builds there (--no-build-isolation).
    PIP_CONSTRAINT="$constraints" "$BUILD/bin/python" -m pip install -q --upgrade 'setuptools>=77' wheel \
        'setuptools_scm>=8.0' 'cython>=3.0.0' babel 'numpy>=2'
    "$BUILD/bin/python" -m pip install -q --no-deps "$WHEELS"/pygeoprocessing-"$PYGEOPROCESSING_VERSION"-*.whl
    # (PATH: its build runs pybabel, from the build venv)
    PATH="$BUILD/bin:$PATH" PIP_CONSTRAINT="$constraints" "$BUILD/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
        -w "$WHEELS" "natcap.invest==$INVEST_VERSION"
    say "wheels built ($(elapsed) s): $(cd "$WHEELS" && ls ./*.whl | tr '\n' ' ')"
fi

# --- 2. the run-time venv: Debian's python, numpy and GDAL ----------------------------
if [ -n "${INVEST_FORCE:-}" ] || [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    say "creating .venv-invest (--system-site-packages: Debian's numpy $SYS_NUMPY and GDAL)"
    "$SYSPY" -m venv --system-site-packages "$VENV"
fi
rm -f "$STAMP"
printf 'numpy==%s\ncython<3.1\n' "$SYS_NUMPY" > "$constraints"
say "installing the wheels and their dependencies into .venv-invest"
PIP_CONSTRAINT="$constraints" "$VENV/bin/python" -m pip install -q --find-links "$WHEELS" \
    "$WHEELS"/natcap_invest-"$INVEST_VERSION"-*.whl "$WHEELS"/pygeoprocessing-"$PYGEOPROCESSING_VERSION"-*.whl
versions=$("$VENV/bin/python" -c "$check") || die ".venv-invest does not import natcap.invest with GDAL"
printf '%s\n' "$want" > "$STAMP"
set -- $versions
say "natcap.invest $1 (pygeoprocessing $2, numpy $3, GDAL $4) ready in .venv-invest in $(elapsed) s"
