#!/usr/bin/env bash
# Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#     tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
# NUM_PROCS processes on this node (torchrun's --nproc_per_node); on N
# nodes run it on each with NNODES=N, its NODE_RANK and node 0's
# MASTER_ADDR (tools/dist_launch.sh). Paths are relative to where you call
# it from. Without a GPU the gloo backend is chosen by tools/test.py
# itself. SIGTERM or SIGINT to this script stops every process of the run.
if [ $# -lt 3 ] || ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCS [test.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for f in "$CONFIG" "$CHECKPOINT"; do
    if [ ! -f "$f" ]; then
        echo "error: $f does not exist." >&2
        exit 2
    fi
done
# shellcheck source=dist_launch.sh
source "$ROOT/tools/dist_launch.sh"
dist_exec "$NPROCS" "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
