#!/usr/bin/env bash
# Build (once) and install mmcv 2.1.0 with its compiled CPU ops into a venv.
#
# PyPI ships only the source of mmcv 2.1.0 and no wheel for torch 2.14; as
# shipped it does not build there (torch's headers need C++20, mmcv passes
# -std=c++17; mmcv's setup.py needs pkg_resources, gone in setuptools >= 70).
# This script downloads the sdist, applies exactly those two fixes, builds the
# wheel with MMCV_WITH_OPS=1 and caches it under
#   ${DCKD_MM_CACHE:-~/.cache/dckd_mm}/wheels/mmcv-2.1.0+torch<T>-cp<PY>/
# keyed by mmcv, torch and Python versions. A cached wheel is reused and the
# build (about 25 minutes on 2 cores) is skipped.
#
# Usage: .dev_scripts/build_mmcv.sh PYTHON   (the venv's python executable)
set -euo pipefail

PY=${1:?usage: build_mmcv.sh PATH/TO/VENV/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
MMCV_VERSION=2.1.0
CACHE=${DCKD_MM_CACHE:-$HOME/.cache/dckd_mm}
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_TAG=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
# FORCE_CUDA=1 (on a machine with the CUDA toolkit) builds the CUDA ops
# too, which detection on a GPU needs; the default is CPU ops only.
FORCE_CUDA="${FORCE_CUDA:-0}"
KEY="mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}-${PY_TAG}"
if [ "$FORCE_CUDA" = "1" ]; then KEY="$KEY-cuda"; fi
WHEEL_DIR="$CACHE/wheels/$KEY"

installed=$("$PY" - <<'PYEOF'
try:
    import importlib.metadata as md
    v = md.version('mmcv')
    import mmcv._ext  # noqa: F401  (compiled ops present)
    print(v)
except Exception:
    print('')
PYEOF
)
if [ "$installed" = "$MMCV_VERSION" ]; then
    echo "[build_mmcv] mmcv $MMCV_VERSION with ops already installed"
    exit 0
fi
if "$PY" -m pip show mmcv-lite >/dev/null 2>&1; then
    echo "[build_mmcv] removing mmcv-lite: it provides the same 'mmcv' package"
    "$PY" -m pip uninstall -y mmcv-lite
fi

wheel=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
    echo "[build_mmcv] no cached wheel for $KEY: building (about 25 min on 2 cores)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # Build tools that mmcv's setup.py needs but torch's own pins forbid in
    # the venv (torch wants setuptools >= 77): kept in a side directory.
    tools="$CACHE/build-tools"
    if [ ! -f "$tools/.ok" ]; then
        "$PY" -m pip install -q --target "$tools" 'setuptools>=60,<70' \
            wheel ninja
        touch "$tools/.ok"
    fi
    PYTHONPATH="$tools" "$PY" -m pip download -q --no-deps \
        --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$work"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    src="$work/mmcv-$MMCV_VERSION"
    # torch >= 2.5 headers: '#error C++20 or later compatible compiler'.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q -- '-std=c++20' "$src/setup.py"
    ncpu=$(nproc)
    log="$CACHE/build-$KEY.log"
    echo "[build_mmcv] full log: $log"
    set +e
    (
        cd "$src"
        export PYTHONPATH="$tools" PATH="$tools/bin:$PATH"
        export MMCV_WITH_OPS=1 FORCE_CUDA="$FORCE_CUDA" MAX_JOBS="$ncpu"
        "$PY" setup.py bdist_wheel -d "$work/dist" >"$log" 2>&1 &
        pid=$!
        # Progress: ninja's "[i/n]" counter, one line per finished file.
        tail -n +1 --pid="$pid" -f "$log" \
            | grep --line-buffered -oE '^\[[0-9]+/[0-9]+\] c\+\+ .* -c -c [^ ]+' \
            | sed -u -E 's/ c\+\+ .* -c -c .*\/([^/ ]+)$/ \1/'
        wait "$pid"
    )
    status=$?
    set -e
    built=$(ls "$work"/dist/mmcv-*.whl 2>/dev/null | head -n1 || true)
    if [ "$status" -ne 0 ] || [ -z "$built" ]; then
        tail -n 30 "$log" >&2
        echo "[build_mmcv] build failed (status $status); see $log" >&2
        exit 1
    fi
    mkdir -p "$WHEEL_DIR"
    cp "$built" "$WHEEL_DIR/.partial.whl"
    mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$built")"
    wheel="$WHEEL_DIR/$(basename "$built")"
fi
echo "[build_mmcv] installing $wheel"
"$PY" -m pip install -q --no-deps --force-reinstall "$wheel"
"$PY" -c 'import mmcv._ext; print("[build_mmcv] mmcv ops OK")'
