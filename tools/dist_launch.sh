# Sourced by tools/dist_train.sh and tools/dist_test.sh (not run by
# itself): checks the multi-node settings and replaces the calling shell
# with torchrun.
#
#   NNODES       number of nodes (default 1)
#   NODE_RANK    this node's rank, 0 .. NNODES-1 (default 0)
#   MASTER_ADDR  address of node 0 (default 127.0.0.1; required when
#                NNODES > 1)
#   PORT         rendezvous port on node 0 (default 29500)
#   PYTHON       interpreter (default python)
#
# The same variables as mmpretrain's and mmrazor's tools/dist_train.sh,
# which call the deprecated torch.distributed.launch; this calls
# torch.distributed.run (torchrun) with the same options.

# dist_exec NUM_PROCS TOOL [TOOL ARGS...]: exec torchrun with NUM_PROCS
# processes on this node running TOOL. Exits with status 2 and an
# `error: ...` line on a bad setting.
dist_exec() {
    local nprocs=$1 tool=$2
    shift 2
    local nnodes=${NNODES:-1} node_rank=${NODE_RANK:-0} port=${PORT:-29500}
    if ! [[ "$nnodes" =~ ^[1-9][0-9]*$ ]]; then
        echo "error: NNODES=$nnodes: the number of nodes must be a positive integer." >&2
        exit 2
    fi
    if ! [[ "$node_rank" =~ ^[0-9]+$ ]] || [ "$node_rank" -ge "$nnodes" ]; then
        echo "error: NODE_RANK=$node_rank: this node's rank must be an integer from 0 to $((nnodes - 1)) (NNODES=$nnodes)." >&2
        exit 2
    fi
    if ! [[ "$port" =~ ^[1-9][0-9]*$ ]] || [ "$port" -gt 65535 ]; then
        echo "error: PORT=$port: the rendezvous port must be an integer from 1 to 65535." >&2
        exit 2
    fi
    if [ "$nnodes" -gt 1 ] && [ -z "${MASTER_ADDR:-}" ]; then
        echo "error: NNODES=$nnodes needs MASTER_ADDR, the address of node 0 that every node can reach (the same on every node, with NODE_RANK=0 .. $((nnodes - 1)))." >&2
        exit 2
    fi
    local master_addr=${MASTER_ADDR:-127.0.0.1}
    if [ "$nnodes" -eq 1 ]; then
        # One node: gloo (the CPU backend) talks over loopback unless told
        # otherwise; resolving the hostname to pick an interface is
        # unreliable on containers and sandboxes. Several nodes talk over
        # the network: gloo picks the interface (or GLOO_SOCKET_IFNAME).
        export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    # exec: torchrun takes this shell's pid, so SIGTERM or SIGINT sent to
    # the script reaches it; torchrun sends the signal on to every worker,
    # waits for them (SIGKILL after 30 s) and exits non-zero. A shell left
    # waiting in between would die alone and orphan the run.
    exec "${PYTHON:-python}" -m torch.distributed.run \
        --nnodes="$nnodes" \
        --node_rank="$node_rank" \
        --master_addr="$master_addr" \
        --master_port="$port" \
        --nproc_per_node="$nprocs" \
        "$tool" "$@"
}
