#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the Slurm test (a ctest fixture): Debian's
# munge, slurmctld and slurmd, with a generated slurm.conf and every file under DIR.
#
#   slurm_cluster.sh start DIR   starts munged, slurmctld and slurmd; waits until the node
#                                takes jobs; prints `export SLURM_CONF=DIR/slurm.conf`
#   slurm_cluster.sh stop DIR    stops them (and any job step left)
#
# Runs as root (the daemons' user); proctrack/linuxproc and task/none need no cgroups, so it
# works in a container. Fails with the daemon's own log lines when something does not start.
set -euo pipefail
cmd=${1:?start or stop}
dir=$(realpath -m "${2:?state folder}")

stop() {
  for d in slurmd slurmctld munged; do
    if [ -f "$dir/$d.pid" ]; then
      kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 50); do
    alive=0
    for d in slurmd slurmctld munged; do
      [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  rm -f "$dir"/*.pid
}

fail() {
  echo "slurm_cluster: $1" >&2
  for f in munged slurmctld slurmd; do
    [ -f "$dir/$f.log" ] && { echo "--- $f.log (last lines)" >&2; tail -n 8 "$dir/$f.log" >&2; }
  done
  stop
  exit 1
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || { echo "slurm_cluster: $tool is not installed (scripts/deps/apt-packages.txt)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "slurm_cluster: the daemons run as root here; run as root" >&2; exit 1; }

stop
rm -rf "$dir"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
node=$(hostname -s)
cpus=$(nproc)
# Ports from this folder's name, so that two runs on one machine do not collide.
base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))

head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" \
  || fail "munged did not start"

cat > "$dir/slurm.conf" <<CONF
ClusterName=infermark-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Finished jobs stay visible to squeue/scontrol for an hour (there is no accounting database).
MinJobAge=3600
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf

slurmctld -i || fail "slurmctld did not start"
slurmd -N "$node" || fail "slurmd did not start"
for _ in $(seq 100); do
  state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
  sleep 0.2
done
fail "node $node did not become idle (sinfo: ${state:-no answer})"
