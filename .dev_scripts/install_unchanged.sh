#!/usr/bin/env bash
# Install dckd_mm into an existing environment (first `pip install .`, then
# `pip install -e .`, both with dependencies, as a user would) and fail if
# either changed the torch, torchvision or mmcv that was there before.
#
# Usage: .dev_scripts/install_unchanged.sh PATH/TO/VENV/bin/python
set -euo pipefail
PY=${1:?usage: install_unchanged.sh PATH/TO/VENV/bin/python}
versions() {
    "$PY" - <<'PYEOF'
import importlib.metadata as md
for name in ('torch', 'torchvision', 'mmcv', 'mmcv-lite', 'mmengine',
             'mmpretrain', 'mmrazor', 'numpy'):
    try:
        print(f'{name}=={md.version(name)}')
    except md.PackageNotFoundError:
        print(f'{name} absent')
PYEOF
}
before=$(versions)
for mode in '.' '-e .'; do
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --disable-pip-version-check --no-build-isolation $mode
    after=$(versions)
    if [ "$before" != "$after" ]; then
        echo "[install] pip install $mode changed the environment:" >&2
        diff <(echo "$before") <(echo "$after") >&2 || true
        exit 1
    fi
    echo "[install] pip install $mode: torch, torchvision, mmcv unchanged"
done
echo "$before" | sed 's/^/[install]   /'
