#!/usr/bin/env bash
# Print the path of a Python interpreter of version X.Y (the argument):
# $PYTHON<XY> if set, else pythonX.Y on PATH if it really runs, else the
# newest pyenv install of X.Y. Fails with a clear message when none exists.
set -euo pipefail
want=${1:?usage: find_python.sh X.Y}
var="PYTHON${want/./}"
if [ -n "${!var:-}" ]; then echo "${!var}"; exit 0; fi
if command -v "python$want" >/dev/null 2>&1 && \
        "python$want" -c 'import sys' >/dev/null 2>&1; then
    command -v "python$want"; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
    version=$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" \
        | sort -t. -k3 -n | tail -n1 || true)
    if [ -n "$version" ]; then
        echo "$(pyenv prefix "$version")/bin/python$want"; exit 0
    fi
fi
echo "error: no Python $want found for this lane: install it (e.g." \
    "'pyenv install $want') or set $var=/path/to/python$want" >&2
exit 1
