#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Launches tools/train.py with one task per GPU through srun (as the
# OpenMMLab hosts' slurm scripts do); mmengine reads the rank, world size
# and master address from slurm's environment (--launcher slurm).
# SIGTERM or SIGINT to this script reaches srun (see below).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$CONFIG" ]; then
    echo "error: config file $CONFIG does not exist." >&2
    exit 2
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# exec: srun takes this shell's pid, so SIGTERM or SIGINT sent to the
# script reaches srun, which passes it to every task of the job step (a
# shell left waiting in between would die alone and leave the step running).
# shellcheck disable=SC2086
exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 $SRUN_ARGS \
    "${PYTHON:-python}" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir "$WORK_DIR" --launcher slurm "${@:5}"
