#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
PORT=${PORT:-29500}
# One node: gloo (the CPU backend) talks over loopback unless told
# otherwise; resolving the hostname to pick an interface is unreliable on
# containers and sandboxes.
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
cd "$(dirname "$0")/.." || exit 1
PYTHONPATH="$(pwd):${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
