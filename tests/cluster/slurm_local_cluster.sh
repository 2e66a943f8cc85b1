#!/usr/bin/env bash
# A one-node SLURM cluster on this host, for testing profiles/slurm against a real slurmctld/slurmd.
#
#   tests/cluster/slurm_local_cluster.sh start [DIR]   install slurm-wlm and munge if missing, start munged,
#                                                      slurmctld and slurmd, wait until the node is idle
#   tests/cluster/slurm_local_cluster.sh stop [DIR]    shut all three down again
#
# Everything (config, munge key and socket, state, logs, pid files) lives in DIR (default $SLURM_LOCAL_DIR or
# /tmp/slurm-local-cluster); munged listens on a private socket, so a system munge does not interfere. munged
# insists that DIR and every directory above it be searchable by all users.
# One link leaves DIR: /etc/slurm/slurm.conf -> DIR/slurm.conf, because the Snakemake job step runs `srun` inside
# each job with every SLURM_* variable (SLURM_CONF included) removed, so that srun reads the default path.
# `start` refuses to replace a slurm.conf it did not write; `stop` removes the link.
# Needs root (the daemons run as root) and apt-get (Debian/Ubuntu) when the packages are missing.
set -euo pipefail

command_name=${1:-}
DIR=${2:-${SLURM_LOCAL_DIR:-/tmp/slurm-local-cluster}}
NODE=$(hostname -s)
export SLURM_CONF=$DIR/slurm.conf
DEFAULT_CONF=/etc/slurm/slurm.conf
MARKER="# Written by tests/cluster/slurm_local_cluster.sh"

log() { echo "slurm_local_cluster: $*" >&2; }

pid_alive() {  # pid_alive PIDFILE: the process named in PIDFILE runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    local missing=0
    for binary in slurmctld slurmd munged sinfo sbatch; do
        command -v "$binary" >/dev/null || missing=1
    done
    if (( missing == 0 )); then
        return
    fi
    command -v apt-get >/dev/null || { log "slurm-wlm/munge missing and no apt-get to install them"; exit 2; }
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # No recommends: the daemons and clients are all this needs (the recommends add docs and mail tools).
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    local cpus memory_mb
    cpus=$(nproc)
    # 90 % of the memory available now: slurmd drains a node that reports less memory than configured.
    memory_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat > "$DIR/slurm.conf" <<EOF
$MARKER: one node, no accounting, no cgroups.
ClusterName=localtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state/slurmctld
SlurmdSpoolDir=$DIR/state/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The node's CPU count from this file, whatever topology slurmd detects (VMs report odd sockets/threads).
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to squeue and scontrol for an hour: without accounting, Snakemake's squeue status
# mode needs them (the plugin wants MinJobAge >= 3 x its first status-check delay), and the test inspects them.
MinJobAge=3600
KillWait=5
# Two stand-in GPUs (gres.conf): sbatch --gpus=1 from the profile can be scheduled and is recorded on the job,
# while the jobs themselves train on the CPU.
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmd drops GPUs without a device file; /dev/null and /dev/zero stand in (task/none confines no devices).
    cat > "$DIR/gres.conf" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/null
NodeName=$NODE Name=gpu File=/dev/zero
EOF
}

link_default_config() {
    # A slurm.conf of a real installation stays untouched; a link left by an earlier run of this script is replaced.
    if [[ -e $DEFAULT_CONF || -L $DEFAULT_CONF ]]; then
        if ! [[ -L $DEFAULT_CONF ]] || { [[ -e $DEFAULT_CONF ]] && ! grep -q "^$MARKER" "$DEFAULT_CONF"; }; then
            log "$DEFAULT_CONF exists and was not written by this script: not replacing it"
            exit 2
        fi
    fi
    mkdir -p "$(dirname "$DEFAULT_CONF")"
    ln -sfn "$SLURM_CONF" "$DEFAULT_CONF"
}

wait_for_idle() {
    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null || true)
        if [[ $state == idle ]]; then
            log "node $NODE idle; export SLURM_CONF=$SLURM_CONF"
            return
        fi
        sleep 1
    done
    log "node $NODE not idle after 60 s (state '${state}'); daemon logs follow"
    tail -n 30 "$DIR"/log/*.log >&2 || true
    stop_cluster
    exit 1
}

launch() {  # launch DAEMON ARGS...: start a daemon that forks into the background, stop everything if it fails
    # Its standard streams go to a file, not to ours: a caller reading our output would otherwise wait for the
    # daemon to exit.
    "$@" </dev/null >>"$DIR/log/$1.stderr" 2>&1 && return
    log "$1 failed to start:"
    cat "$DIR/log/$1.stderr" >&2
    stop_cluster
    exit 1
}

start_cluster() {
    [[ $(id -u) == 0 ]] || { log "must run as root (slurmctld, slurmd and munged run as root here)"; exit 2; }
    PATH=$PATH:/usr/sbin  # the daemons live in /usr/sbin, not always on root's PATH in containers
    install_packages
    # A run that died without `stop` leaves daemons holding the SLURM ports; the default-path link names its DIR.
    local previous
    previous=$(readlink "$DEFAULT_CONF" 2>/dev/null || true)
    if [[ -n $previous && $previous != "$SLURM_CONF" && -f $previous ]] && grep -q "^$MARKER" "$previous"; then
        log "stopping the cluster left running in $(dirname "$previous")"
        bash "$0" stop "$(dirname "$previous")"
    fi
    if pid_alive "$DIR/slurmctld.pid" || pid_alive "$DIR/slurmd.pid" || pid_alive "$DIR/munge/munged.pid"; then
        log "a cluster from $DIR is still running: stopping it first"
        stop_cluster
    fi
    rm -rf "$DIR/state" "$DIR/log" "$DIR/munge"
    mkdir -p "$DIR/state/slurmctld" "$DIR/state/slurmd" "$DIR/log" "$DIR/munge"
    chmod 755 "$DIR/munge"  # munged wants its socket directory searchable by all and writable by no one else

    head -c 1024 /dev/urandom > "$DIR/munge/munge.key"
    chmod 400 "$DIR/munge/munge.key"
    launch munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"

    write_config
    link_default_config
    launch slurmctld -f "$SLURM_CONF"
    launch slurmd -f "$SLURM_CONF"
    wait_for_idle
}

wait_for_exit() {  # wait_for_exit PID SECONDS: 0 once PID is gone, 1 if it still runs after SECONDS
    for _ in $(seq 1 $(( $2 * 10 ))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$1" 2>/dev/null
}

stop_cluster() {
    PATH=$PATH:/usr/sbin
    if pid_alive "$DIR/slurmctld.pid"; then
        # Jobs left over (a run that failed half-way) are cancelled first: their slurmstepd would outlive slurmd.
        local jobs
        jobs=$(squeue -h -t pending,running -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            # shellcheck disable=SC2086  # one argument per job id
            scancel $jobs || true
            for _ in $(seq 1 30); do
                [[ -z $(squeue -h -t running,completing -o %i 2>/dev/null || true) ]] && break
                sleep 0.5
            done
        fi
        # scontrol shutdown stops slurmctld and every slurmd cleanly; the pid files catch what it missed.
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    local pidfile pid
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        pid_alive "$pidfile" || continue
        pid=$(cat "$pidfile")
        if [[ $pidfile == */munged.pid ]]; then  # munged has no shutdown command
            kill -TERM "$pid" 2>/dev/null || true
        fi
        wait_for_exit "$pid" 10 && continue
        kill -TERM "$pid" 2>/dev/null || true
        wait_for_exit "$pid" 5 && continue
        log "$(basename "$pidfile" .pid) ($pid) ignored TERM: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ $(readlink "$DEFAULT_CONF" 2>/dev/null) == "$SLURM_CONF" ]]; then
        rm -f "$DEFAULT_CONF"
    fi
    log "stopped"
}

case $command_name in
    start) start_cluster ;;
    stop) stop_cluster ;;
    *) echo "usage: $0 start|stop [DIR]" >&2; exit 64 ;;
esac
