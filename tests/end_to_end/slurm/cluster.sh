#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for tests/end_to_end/test_slurm.py and for trying profiles/slurm by hand:
#   tests/end_to_end/slurm/cluster.sh start DIR     # then sbatch, sacct, snakemake --profile profiles/slurm ... use it
#   tests/end_to_end/slurm/cluster.sh stop DIR
# Debian's slurm-wlm 22.05 (installed with apt-get when missing) with munge, and job accounting in
# slurmdbd backed by a private MariaDB (22.05 has no database-free accounting plugin that sacct reads).
# Every file (keys, state, database, logs) lives in DIR and every daemon runs as root on free ports,
# so a system-wide munge is left alone. The one file outside DIR is /etc/slurm/slurm.conf, a symlink to
# DIR/slurm.conf while the cluster runs: the SLURM executor's job step drops SLURM_CONF before it calls
# srun, so the configuration must sit at the default path (start refuses to replace a real one). Needs root.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)  # start order; stop goes backwards
SYSTEM_CONF=/etc/slurm/slurm.conf

install_packages() {
    local missing=0
    for cmd in munged mariadbd slurmdbd slurmctld slurmd sbatch sacct; do
        command -v "$cmd" >/dev/null || missing=1
    done
    (( missing )) || return 0
    echo "installing slurm-wlm, slurmdbd, munge, mariadb-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >"$dir/log/apt.log" 2>&1 \
        || { cat "$dir/log/apt.log"; exit 1; }
}

# four distinct free TCP ports: slurmctld, slurmd, slurmdbd, mariadb
free_ports() {
    python3 -c 'import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))'
}

write_configs() {
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # under the total, or slurmd drains the node
    read -r ctld_port slurmd_port dbd_port db_port < <(free_ports)
    # partitions: main (the default) and train, for a test that routes the train rules elsewhere
    cat >"$dir/slurm.conf" <<EOF
ClusterName=taskladder
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.daemon.pid
SlurmdPidFile=$dir/run/slurmd.daemon.pid
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$dir/munge/munge.socket
AccountingStoreFlags=job_comment
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=train Nodes=localhost MaxTime=INFINITE State=UP
EOF
    cat >"$dir/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
PidFile=$dir/run/slurmdbd.daemon.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$dir/slurmdbd.conf"  # slurmdbd refuses a readable one
    echo "$db_port" >"$dir/run/db.port"
}

# run NAME COMMAND...: start a daemon (kept in the foreground) as a background process, its log in
# DIR/log/NAME.out and its pid in DIR/run/NAME.pid for stop
run() {
    local name=$1
    shift
    "$@" >>"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/run/$name.pid"
}

# wait_for WHAT COMMAND...: poll COMMAND for up to 60 s
wait_for() {
    local what=$1
    shift
    for _ in $(seq 120); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "SLURM test cluster: $what did not come up within 60 s; logs in $dir/log:" >&2
    for f in "$dir"/log/*; do echo "===== $f" >&2; tail -n 40 "$f" >&2; done
    exit 1
}

start() {
    # a dangling link (a test cluster stopped without `stop`) is replaced; a real file or another live one is not
    if [[ -e $SYSTEM_CONF ]] && [[ $(readlink "$SYSTEM_CONF") != "$dir/slurm.conf" ]]; then
        echo "$SYSTEM_CONF exists and is not this test cluster's: not starting one beside it" >&2
        exit 1
    fi
    mkdir -p "$dir"/{munge,db,state,spool,run,log}
    chmod 700 "$dir/munge"
    install_packages
    write_configs
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$dir/slurm.conf" "$SYSTEM_CONF"
    export SLURM_CONF=$dir/slurm.conf  # slurmdbd reads slurmdbd.conf beside it
    local db_port
    db_port=$(cat "$dir/run/db.port")

    [[ -f $dir/munge/munge.key ]] || { head -c 1024 /dev/urandom >"$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
    run munged munged --foreground --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.daemon.pid" --seed-file="$dir/munge/munged.seed"
    wait_for munged munge --socket="$dir/munge/munge.socket" --no-input

    if [[ ! -d $dir/db/data ]]; then
        mariadb-install-db --user=root --datadir="$dir/db/data" --auth-root-authentication-method=socket \
            --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 || { cat "$dir/log/mariadb-install.log"; exit 1; }
    fi
    run mariadbd mariadbd --user=root --datadir="$dir/db/data" --socket="$dir/db/mysql.sock" --port="$db_port" \
        --bind-address=127.0.0.1 --pid-file="$dir/run/mariadbd.daemon.pid" --innodb-buffer-pool-size=64M
    wait_for mariadbd mariadb --socket="$dir/db/mysql.sock" --user=root --execute="SELECT 1"
    mariadb --socket="$dir/db/mysql.sock" --user=root --execute="
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    run slurmdbd slurmdbd -D
    wait_for slurmdbd sacctmgr --noheader list cluster
    run slurmctld slurmctld -D
    wait_for slurmctld scontrol ping
    run slurmd slurmd -D
    wait_for "slurmd (node localhost idle)" bash -c '[[ $(sinfo --noheader --nodes=localhost --format=%T) == idle ]]'
    wait_for "the cluster's accounting (sacctmgr list cluster taskladder)" \
        bash -c '[[ -n $(sacctmgr --noheader --parsable2 list cluster taskladder format=cluster) ]]'
    echo "SLURM test cluster up: $SYSTEM_CONF -> $dir/slurm.conf"
}

# running PID NAME: the process PID is alive (not a zombie) and is NAME, so a reused pid is left alone
running() {
    [[ -r /proc/$1/stat && $(cat "/proc/$1/comm") == "$2" && $(awk '{print $3}' "/proc/$1/stat") != Z ]]
}

stop() {
    local i name pid
    for (( i = ${#DAEMONS[@]} - 1; i >= 0; i-- )); do
        name=${DAEMONS[i]}
        [[ -f $dir/run/$name.pid ]] || continue
        pid=$(cat "$dir/run/$name.pid")
        rm -f "$dir/run/$name.pid"
        running "$pid" "$name" || continue
        kill "$pid"
        for _ in $(seq 40); do running "$pid" "$name" || continue 2; sleep 0.25; done
        kill -9 "$pid"
    done
    if [[ $(readlink "$SYSTEM_CONF") == "$dir/slurm.conf" ]]; then rm "$SYSTEM_CONF"; fi
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
