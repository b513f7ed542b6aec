#!/usr/bin/env bash
# A real single-node SLURM cluster with two fake GPUs on this machine, for the slurm-gpu profile's integration test
# (see ../shared/ARCHITECTURE.md). Idempotent: installs slurm-wlm and munge when missing (Debian, as root), writes
# /etc/slurm/slurm.conf and gres.conf only when absent or written by this script before, starts munged, slurmctld
# and slurmd when not running, and waits until the node accepts jobs. Exits non-zero with the reason otherwise.
set -euo pipefail
MARK="# written by tcbench tests/slurm/start_local_slurm.sh"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))

if [ "$(id -u)" != 0 ]; then echo "needs root to install and start SLURM daemons"; exit 2; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { echo "no apt-get to install slurm-wlm and munge"; exit 2; }
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge) >/tmp/tcbench-slurm-apt.log 2>&1 \
        || { echo "apt-get install slurm-wlm munge failed (see /tmp/tcbench-slurm-apt.log)"; exit 2; }
fi
mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm /run/munge
if [ -f /etc/slurm/slurm.conf ] && ! grep -q "$MARK" /etc/slurm/slurm.conf; then
    echo "/etc/slurm/slurm.conf exists and is not ours: not touching a configured cluster"; exit 2
fi
for i in 0 1; do [ -e /dev/fakegpu$i ] || mknod /dev/fakegpu$i c 1 3; done
cat > /etc/slurm/slurm.conf <<CONF
$MARK
ClusterName=tcbench
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmUser=root
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
printf '%s\nAutoDetect=off\nNodeName=%s Name=gpu File=/dev/fakegpu[0-1]\n' "$MARK" "$HOST" > /etc/slurm/gres.conf
chown munge:munge /run/munge 2>/dev/null || true
[ -f /etc/munge/munge.key ] || mungekey -c 2>/dev/null || create-munge-key -f
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
scontrol ping 2>/dev/null | grep -q "is UP" || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 1 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|allocated"; then echo "SLURM ready on $HOST"; exit 0; fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "SLURM did not become ready: $(sinfo 2>&1 | tail -1)"; exit 2
