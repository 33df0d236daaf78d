#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Paths are relative to where you call it from. Without a GPU the gloo
# backend is chosen by tools/train.py itself.
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG NUM_PROCS [train.py options]" >&2
    exit 2
fi
CONFIG=$1
NPROCS=$2
PORT=${PORT:-29500}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$CONFIG" ]; then
    echo "error: config file $CONFIG does not exist." >&2
    exit 2
fi
# One node: gloo (the CPU backend) talks over loopback unless told
# otherwise; resolving the hostname to pick an interface is unreliable on
# containers and sandboxes.
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
