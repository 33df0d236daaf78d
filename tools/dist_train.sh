#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# On CPU add --cfg-options env_cfg.dist_cfg.backend=gloo.
CONFIG=$1
NPROCS=$2
PORT=${PORT:-29500}
# One node: gloo (the CPU backend) talks over loopback unless told
# otherwise; resolving the hostname to pick an interface is unreliable on
# containers and sandboxes.
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
cd "$(dirname "$0")/.." || exit 1
PYTHONPATH="$(pwd):${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    tools/train.py "$CONFIG" --launcher pytorch "${@:3}"
