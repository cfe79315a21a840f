#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm executor's tests (and for trying `slurm:` studies).
#
#   scripts/slurm_local.sh install        apt-get install slurmctld slurmd slurm-client munge (when missing)
#   scripts/slurm_local.sh start DIR      install if needed, write DIR/slurm.conf, start munged, slurmctld and
#                                         slurmd, wait until the node is idle; prints `export SLURM_CONF=...`
#   scripts/slurm_local.sh stop DIR       stop what `start DIR` started, by the PIDs it recorded in DIR
#   scripts/slurm_local.sh status DIR     sinfo against DIR/slurm.conf
#
# Why it looks like this:
# * No systemd here: the daemons are started by hand, each with a pid file under DIR, and stopped by PID.
# * Everything Slurm writes (config, state, spool, logs, pid files) is under DIR, so two clusters never share
#   state and a finished test leaves nothing behind. Clients find the cluster through SLURM_CONF, never through
#   /etc/slurm, so this machine's configuration is left alone.
# * munged is the one shared piece (Slurm talks to it through /run/munge/munge.socket.2): one that already
#   answers is used as it is and left running; one started here is stopped by `stop`.
# * Accounting is off (no slurmdbd, so no sacct): the executor polls squeue instead, which is what it must
#   do on clusters without accounting anyway.
# * proctrack/linuxproc and task/none: no cgroups needed (containers often have none writable).
# * The node's CPUs, topology and memory are what `slurmd -C` detects, so slurmd never drains the node for a
#   mismatch; KillWait is short so a cancelled job is gone within seconds.
#
# Settings (environment): SLURM_LOCAL_CTLD_PORT (6817), SLURM_LOCAL_SLURMD_PORT (6818), SLURM_LOCAL_INSTALL
# (1; 0 = never run apt-get), SLURM_LOCAL_WAIT_S (30: how long to wait for an idle node). Needs root: slurmd
# starts jobs as their user, munged needs /run/munge.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
WAIT_S="${SLURM_LOCAL_WAIT_S:-30}"

die() {
	echo "slurm_local: $*" >&2
	exit 1
}

have_all() {
	command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || return 1
	command -v slurmd >/dev/null 2>&1 || [ -x /usr/sbin/slurmd ] || return 1
	command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || return 1
	command -v sinfo >/dev/null 2>&1 || return 1
	command -v sbatch >/dev/null 2>&1 || return 1
}

install_packages() {
	have_all && return 0
	[ "${SLURM_LOCAL_INSTALL:-1}" = 1 ] || die "Slurm is not installed and SLURM_LOCAL_INSTALL=0: apt-get install -y ${PACKAGES[*]}"
	[ "$(id -u)" = 0 ] || die "Slurm is not installed: as root, apt-get install -y ${PACKAGES[*]}"
	command -v apt-get >/dev/null 2>&1 || die "Slurm is not installed and there is no apt-get: install ${PACKAGES[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be missing on a fresh machine; a failed update is not fatal if the install works.
	apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null 2>&1 || {
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
	} || die "apt-get install ${PACKAGES[*]} failed"
	have_all || die "installed ${PACKAGES[*]} but the Slurm commands are still missing"
}

munge_works() {
	command -v munge >/dev/null 2>&1 && munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
	local dir="$1"
	if munge_works; then
		return 0 # a running munged (the system's, or another cluster's): use it, never stop it
	fi
	[ "$(id -u)" = 0 ] || die "munged is not running and only root can start it (it needs /run/munge)"
	id munge >/dev/null 2>&1 || die "there is no munge user: reinstall the munge package"
	if [ ! -s /etc/munge/munge.key ]; then # the package's postinst normally creates it
		install -d -m 0700 -o munge -g munge /etc/munge
		runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 ||
			{ dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null &&
				chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key; }
	fi
	# No systemd: its RuntimeDirectory= would create these; munged refuses directories it does not own.
	install -d -m 0755 -o munge -g munge /run/munge
	install -d -m 0700 -o munge -g munge /var/lib/munge /var/log/munge
	rm -f /run/munge/munge.socket.2.lock # a stale lock left by a killed munged blocks a new one
	runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid ||
		die "munged did not start: see /var/log/munge/munged.log"
	for _ in $(seq 50); do
		munge_works && break
		sleep 0.1
	done
	munge_works || die "munged started but does not answer: see /var/log/munge/munged.log"
	cp /run/munge/munged.pid "$dir/munged.pid" # ours: `stop` ends it
}

write_conf() {
	local dir="$1"
	local hw
	# e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
	hw="$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* *//')"
	mkdir -p "$dir/state" "$dir/spool"
	cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm_local.sh: one node (this machine), no accounting, everything under $dir.
ClusterName=nnperf-local
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

alive() { # pid file -> true when that process runs
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_idle() {
	local dir="$1" state=""
	for _ in $(seq $((WAIT_S * 5))); do
		state="$(SLURM_CONF="$dir/slurm.conf" timeout 5 sinfo -h -N -n localhost -o '%t' 2>/dev/null || true)"
		case "$state" in idle* | mix* | alloc*) return 0 ;; esac
		alive "$dir/slurmctld.pid" || break
		sleep 0.2
	done
	echo "slurm_local: the node is not idle after ${WAIT_S} s (state: '${state:-no answer}'); logs:" >&2
	tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 2>/dev/null || true
	return 1
}

start() {
	local dir="$1"
	install_packages
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	alive "$dir/slurmctld.pid" && die "a cluster already runs in $dir: stop it first"
	start_munge "$dir"
	write_conf "$dir"
	# -i: ignore state files (there are none: a fresh StateSaveLocation); both daemonize and write pid files.
	slurmctld -f "$dir/slurm.conf" -i || { tail -n 20 "$dir/slurmctld.log" >&2 2>/dev/null; die "slurmctld did not start"; }
	slurmd -f "$dir/slurm.conf" -N localhost || { tail -n 20 "$dir/slurmd.log" >&2 2>/dev/null; die "slurmd did not start"; }
	if ! wait_idle "$dir"; then
		stop "$dir"
		die "the cluster did not come up"
	fi
	echo "export SLURM_CONF=$dir/slurm.conf"
}

stop_pid() { # pid file, name: SIGTERM, then SIGKILL after 10 s
	local file="$1" pid
	[ -s "$file" ] || return 0
	pid="$(cat "$file")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$file"
}

cancel_jobs() { # slurmstepd and the job's processes outlive slurmd: cancel every job while the cluster runs
	local dir="$1" jobs
	alive "$dir/slurmctld.pid" || return 0
	export SLURM_CONF="$dir/slurm.conf"
	jobs="$(timeout 10 squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ')"
	[ -n "${jobs// /}" ] || return 0
	# shellcheck disable=SC2086 # one argument per job id
	timeout 10 scancel $jobs 2>/dev/null || true
	for _ in $(seq 100); do # KillWait (5 s) and then some
		[ -z "$(timeout 10 squeue -h -o '%A' 2>/dev/null)" ] && return 0
		sleep 0.2
	done
}

stop() {
	local dir="$1"
	[ -d "$dir" ] || return 0
	cancel_jobs "$dir"
	stop_pid "$dir/slurmd.pid"
	stop_pid "$dir/slurmctld.pid"
	stop_pid "$dir/munged.pid"
}

cmd="${1:-}"
case "$cmd" in
install) install_packages ;;
start | stop | status)
	[ $# -eq 2 ] || die "usage: $0 $cmd DIR"
	case "$cmd" in
	start) start "$2" ;;
	stop) stop "$2" ;;
	status) SLURM_CONF="$2/slurm.conf" sinfo ;;
	esac
	;;
*) die "usage: $0 install | start DIR | stop DIR | status DIR" ;;
esac
