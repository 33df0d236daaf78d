#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
# Paths are relative to where you call it from. Without a GPU the gloo
# backend is chosen by tools/test.py itself.
if [ $# -lt 3 ] || ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCS [test.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
PORT=${PORT:-29500}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for f in "$CONFIG" "$CHECKPOINT"; do
    if [ ! -f "$f" ]; then
        echo "error: $f does not exist." >&2
        exit 2
    fi
done
# One node: gloo (the CPU backend) talks over loopback unless told
# otherwise; resolving the hostname to pick an interface is unreliable on
# containers and sandboxes.
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"
