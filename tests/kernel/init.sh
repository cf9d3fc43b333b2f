#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# /init of the tests/kernel guest (built by build_image.sh): mounts what
# flowsight's probes look at, runs flowsight on lo around a known exchange
# and prints everything on the serial console between markers, then powers
# off.  It asserts nothing: tests/kernel/test_kernel.py parses the output.
#
# Output lines (all others are noise, kernel messages included):
#   @@FSK kv KEY VALUE            a fact (kernel, pid of a workload process,
#                                 instructions the verifier went through...)
#   @@FSK begin NAME / @@FSK end NAME   a file's content (flow records, stderr)
#   @@FSK done                    the workload ran to its end
#   @@FSK watchdog                it did not, in 240 s
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# the guest's only output is the serial console
exec >/dev/console 2>&1 </dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
dmesg -n 1
ip link set lo up
# whatever hangs, the guest ends itself with what it printed so far (the
# host kills it later still, VM_TIMEOUT)
(sleep 240; echo "@@FSK watchdog"; poweroff -f) &

kv() {
	echo "@@FSK kv $1 $2"
}

dump() { # name file
	echo "@@FSK begin $1"
	cat "$2"
	echo "@@FSK end $1"
}

# stderr, whose libbpf part (a verifier log) can be long: its head and tail
dump_err() { # name file
	local n

	n=$(wc -l <"$2")
	echo "@@FSK begin $1"
	if [ "$n" -le 400 ]; then
		cat "$2"
	else
		head -n 200 "$2"
		echo "@@FSK cut $((n - 400)) lines"
		tail -n 200 "$2"
	fi
	echo "@@FSK end $1"
}

kv kernel "$(uname -r)"
kv cpus "$(nproc)"
kv unprivileged_bpf_disabled "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)"
for m in sch_ingress cls_bpf; do
	insmod /lib/modules/$m.ko
	kv insmod_$m $?
done
# What the kernel offers, the reference for the agent's own probing:
# tracefs lists every tracepoint whether or not BTF describes it.
for f in /sys/kernel/btf/vmlinux /sys/kernel/tracing/kprobe_events \
	/sys/kernel/tracing/events/syscalls/sys_exit_accept4 \
	/sys/kernel/tracing/events/syscalls/sys_exit_accept \
	/sys/kernel/tracing/events/sock/sock_send_length \
	/sys/kernel/tracing/events/sock/sock_recv_length \
	/sys/kernel/tracing/events/sock/inet_sock_set_state \
	/sys/kernel/tracing/events/sched/sched_process_exec \
	/sys/kernel/tracing/events/sched/sched_process_fork \
	/sys/kernel/tracing/events/sched/sched_process_exit; do
	if [ -e "$f" ]; then
		kv exists "$f"
	else
		kv missing "$f"
	fi
done

lo_stats() {
	echo "$(cat /sys/class/net/lo/statistics/tx_packets)" \
		"$(cat /sys/class/net/lo/statistics/tx_bytes)"
}

# A process started in the background: its pid, and its name once it has
# executed (until then it is a copy of this shell, named "init").  The
# workload runs busybox applets by path (/bin/ping, not ping): the shell
# would otherwise run them through /proc/self/exe, and the name would go
# from "init" to "exe" to the applet's.
started() { # what pid
	local n=0 comm

	comm=$(cat /proc/$2/comm 2>/dev/null)
	while [ "$comm" = init ] && [ $n -lt 500 ]; do
		sleep 0.01
		n=$((n + 1))
		comm=$(cat /proc/$2/comm 2>/dev/null)
	done
	kv "$1_pid" "$2"
	kv "$1_comm" "$comm"
}

# flowsight on lo with its output in /tmp/NAME.jsonl; returns once the
# output exists (the capture and the hooks are then in place).
FS_PIDS=""
fs_start() { # name args...
	local name=$1 pid n=0

	shift
	rm -f /tmp/$name.jsonl
	flowsight -i lo -F jsonl -o /tmp/$name.jsonl -v "$@" 2>/tmp/$name.err &
	pid=$!
	while [ ! -e /tmp/$name.jsonl ] && [ $n -lt 1200 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.05
		n=$((n + 1))
	done
	kv "${name}_args" "$*"
	kv "${name}_ready" "$([ -e /tmp/$name.jsonl ] && echo 1 || echo 0)"
	FS_PIDS="$FS_PIDS $name:$pid"
}

fs_stop_all() {
	local e name pid

	for e in $FS_PIDS; do
		name=${e%%:*}
		pid=${e##*:}
		kill -INT $pid 2>/dev/null
		wait $pid
		kv "${name}_rc" $?
		dump $name.jsonl /tmp/$name.jsonl
		dump_err $name.err /tmp/$name.err
	done
	FS_PIDS=""
}

# ping, then one TCP exchange on PORT; lo's counters around each part are
# the reference for the packet and byte counts.
workload() { # phase port
	local ph=$1 port=$2 srv cli n=0

	kv "${ph}_lo_start" "$(lo_stats)"
	/bin/ping -c 5 127.0.0.1 >/tmp/$ph.ping &
	started "${ph}_ping" $!
	wait $!
	kv "${ph}_ping_rc" $?
	kv "${ph}_lo_ping" "$(lo_stats)"
	/bin/nc -l -p $port >/tmp/$ph.srv &
	srv=$!
	started "${ph}_server" $srv
	while ! netstat -ltn | grep -q ":$port "; do
		[ $n -lt 500 ] || break
		sleep 0.01
		n=$((n + 1))
	done
	echo hello | /bin/nc 127.0.0.1 $port &
	cli=$!
	started "${ph}_client" $cli
	wait $cli
	kv "${ph}_client_rc" $?
	wait $srv
	kv "${ph}_server_rc" $?
	kv "${ph}_server_got" "$(cat /tmp/$ph.srv)"
	kv "${ph}_lo_tcp" "$(lo_stats)"
	# a last ACK still on its way is counted, as long as it precedes this
	sleep 1
	kv "${ph}_lo_end" "$(lo_stats)"
}

# 1 MB through lo in one TCP connection: segments of up to 64 KiB (GSO on
# lo, never split), the eBPF capture's large-packet path on this kernel
bulk() { # phase port
	local ph=$1 port=$2 srv cli n=0

	# the server's input stays open (a FIFO this shell holds): at its end
	# nc would close the connection, and the client would stop sending
	mkfifo /tmp/$ph.fifo
	exec 3<>/tmp/$ph.fifo
	/bin/nc -l -p $port <&3 >/dev/null &
	srv=$!
	exec 3>&-
	while ! netstat -ltn | grep -q ":$port "; do
		[ $n -lt 500 ] || break
		sleep 0.01
		n=$((n + 1))
	done
	head -c 1000000 /dev/zero | /bin/nc 127.0.0.1 $port &
	cli=$!
	wait $cli
	kv "${ph}_bulk_client_rc" $?
	wait $srv
	kv "${ph}_bulk_server_rc" $?
	sleep 1
	kv "${ph}_lo_bulk" "$(lo_stats)"
}

# (a)+(b): both captures at once on the same exchange, no attribution;
# a second -v: libbpf's own messages too (a verifier log, if it refuses)
fs_start ebpf --capture ebpf -v
fs_start pcap --capture pcap
workload count 9000
bulk count 9100
fs_stop_all

# (c): attribution with each capture
fs_start attr_ebpf --capture ebpf --system-visibility-mode 2
# all of flowsight's programs are loaded now: their verifier cost here
prog_stats | sort -u | while read -r prog insns; do
	kv "verified_$prog" "$insns"
done
workload attr_ebpf 9001
fs_stop_all
fs_start attr_pcap --capture pcap --system-visibility-mode 2
workload attr_pcap 9002
fs_stop_all

echo "@@FSK done"
sync
poweroff -f
