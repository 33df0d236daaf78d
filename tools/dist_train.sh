#!/usr/bin/env bash
# Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#     tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# NUM_PROCS processes on this node (torchrun's --nproc_per_node); on N
# nodes run it on each with NNODES=N, its NODE_RANK and node 0's
# MASTER_ADDR (tools/dist_launch.sh). Paths are relative to where you call
# it from. Without a GPU the gloo backend is chosen by tools/train.py
# itself. SIGTERM or SIGINT to this script stops every process of the run.
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG NUM_PROCS [train.py options]" >&2
    exit 2
fi
CONFIG=$1
NPROCS=$2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$CONFIG" ]; then
    echo "error: config file $CONFIG does not exist." >&2
    exit 2
fi
# shellcheck source=dist_launch.sh
source "$ROOT/tools/dist_launch.sh"
dist_exec "$NPROCS" "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch \
    "${@:3}"
