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
# the modules build_image.sh found this kernel to have as modules, in order
for m in $(cat /lib/modules/load 2>/dev/null); do
	insmod /lib/modules/$m
	kv insmod_${m%.ko} $?
done
# What the kernel offers, the reference for the agent's own probing:
# tracefs lists every tracepoint whether or not BTF describes it.
for f in /sys/kernel/btf/vmlinux /sys/kernel/tracing/kprobe_events \
	/sys/kernel/tracing/events/sock/sock_send_length \
	/sys/kernel/tracing/events/sock/sock_recv_length \
	/sys/kernel/tracing/events/sched/sched_process_exec \
	/sys/kernel/tracing/events/sched/sched_process_fork \
	/sys/kernel/tracing/events/sched/sched_process_exit; do
	if [ -e "$f" ]; then
		kv exists "$f"
	else
		kv missing "$f"
	fi
done
# What an optional accelerator could use here (flowsight has none yet):
# a kprobe, a multi-kprobe and an fentry program attached to a kernel
# function, and whether cgroup_skb programs may call bpf_get_netns_cookie
kprobe_fentry | while read -r k v; do
	kv "accel_$k" "$v"
done
# a second loopback address: the UDP datagrams of the attribution phases
# and the kernel's answers go there, apart from the pings to 127.0.0.1
ip addr add 127.0.0.2/8 dev lo

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
	kv "${name}_fs_pid" $pid
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

wait_listen() { # port
	local n=0

	while ! netstat -ltn | grep -q ":$1 "; do
		[ $n -lt 500 ] || break
		sleep 0.01
		n=$((n + 1))
	done
}

# ping, then one TCP exchange on PORT; lo's counters around each part are
# the reference for the packet and byte counts.
workload() { # phase port
	local ph=$1 port=$2 srv cli

	kv "${ph}_lo_start" "$(lo_stats)"
	/bin/ping -c 5 127.0.0.1 >/tmp/$ph.ping &
	started "${ph}_ping" $!
	wait $!
	kv "${ph}_ping_rc" $?
	kv "${ph}_lo_ping" "$(lo_stats)"
	# The server's input is a FIFO whose only writer is this shell (fd 4),
	# closed once the server has written what the client sent: at the end
	# of its input busybox nc closes the connection, and with an input at
	# its end from the start (the console) it sometimes did so before it
	# had read "hello" (the exchange then carried nothing).
	mkfifo /tmp/$ph.in
	exec 4<>/tmp/$ph.in
	/bin/nc -l -p $port </tmp/$ph.in >/tmp/$ph.srv &
	srv=$!
	started "${ph}_server" $srv
	wait_listen $port
	echo hello | /bin/nc 127.0.0.1 $port &
	cli=$!
	started "${ph}_client" $cli
	n=0
	while [ "$(cat /tmp/$ph.srv)" != hello ] && [ $n -lt 1000 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	exec 4>&-
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

# 1 MB through lo in one TCP connection: frames of up to 64 KiB (GSO on
# lo, which never splits them), the eBPF capture's large-packet path on
# this kernel
bulk() { # phase port
	local ph=$1 port=$2 srv cli

	# the server's input stays open (a FIFO this shell holds): at its end
	# nc would close the connection, and the client would stop sending
	mkfifo /tmp/$ph.fifo
	exec 3<>/tmp/$ph.fifo
	/bin/nc -l -p $port <&3 >/dev/null &
	srv=$!
	exec 3>&-
	wait_listen $port
	head -c 1000000 /dev/zero | /bin/nc 127.0.0.1 $port &
	cli=$!
	wait $cli
	kv "${ph}_bulk_client_rc" $?
	wait $srv
	kv "${ph}_bulk_server_rc" $?
	sleep 1
	kv "${ph}_lo_bulk" "$(lo_stats)"
}

# The local address of the client connected to 127.0.0.1:PORT, in STATE.
client_addr() { # port state
	netstat -tn | awk -v peer="127.0.0.1:$1" -v st="$2" \
		'$5 == peer && $6 == st { print $4; exit }'
}

# Recv-Q, Send-Q of the connected socket LOCAL -> FOREIGN (nc listens on
# IPv6: its sockets show IPv4-mapped addresses).
queues() { # local-address foreign-address
	netstat -tn | awk -v l="$1" -v f="$2" \
		'{ sub(/^::ffff:/, "", $4); sub(/^::ffff:/, "", $5) }
		$4 == l && $5 == f { print $2, $3; exit }'
}

poll() { # command...: until it succeeds, 200 tries 50 ms apart
	local n=0

	until "$@"; do
		[ $n -lt 200 ] || return 1
		sleep 0.05
		n=$((n + 1))
	done
}

# PID is stopped (SIGSTOP delivered): a listener stopped in accept() leaves
# it, but takes a connection first if one came meanwhile
stopped() { # pid
	[ "$(cut -d' ' -f3 /proc/$1/stat)" = T ]
}

# The connections waiting in PORT's accept queue (a listener's Recv-Q).
backlog() { # port
	netstat -ltn | awk -v p=":$1" 'substr($4, length($4) - length(p) + 1) == p { print $2; exit }'
}

# A connection opened before flowsight starts.  Its listener is stopped
# before the client connects and never accepts: the connection's other end
# waits in the accept queue, held by no process, so the client's socket is
# the one the start-up iterators (iter/task_file, iter/tcp) must name.
PRE_SRV="" PRE_CLI=""
preexisting_open() { # phase port
	local ph=$1 port=$2 addr

	/bin/nc -l -p $port >/dev/null &
	PRE_SRV=$!
	wait_listen $port
	kill -STOP $PRE_SRV
	poll stopped $PRE_SRV
	# its input: a FIFO it holds open itself (no end of input, no FIN)
	mkfifo /tmp/$ph.pre
	exec 3<>/tmp/$ph.pre
	/bin/nc 127.0.0.1 $port <&3 >/dev/null &
	PRE_CLI=$!
	exec 3>&-
	started "${ph}_pre_client" $PRE_CLI
	poll established $port
	addr=$(client_addr $port ESTABLISHED)
	kv "${ph}_pre_backlog" "$(backlog $port)"
	kv "${ph}_pre_client_port" "${addr##*:}"
	kv "${ph}_pre_client_exe" "$(readlink /proc/$PRE_CLI/exe)"
	kv "${ph}_pre_client_cmdline" "$(tr '\0' ' ' </proc/$PRE_CLI/cmdline)"
}

established() { # port
	[ -n "$(client_addr $1 ESTABLISHED)" ]
}

pre_sent() { # local-address port: sent, acknowledged, in the server's queue
	[ "$(queues "$1" 127.0.0.1:$2)" = "0 0" ] &&
		[ "$(queues 127.0.0.1:$2 "$1")" = "4 0" ]
}

# The preexisting connection carries "pre\n" under flowsight; the kernel
# acknowledges it for the stopped listener.
preexisting_use() { # phase port
	local ph=$1 port=$2 addr

	addr=$(client_addr $port ESTABLISHED)
	kv "${ph}_lo_pre_start" "$(lo_stats)"
	echo pre >/tmp/$ph.pre
	poll pre_sent "$addr" $port
	kv "${ph}_pre_acked" $?
	sleep 1
	kv "${ph}_lo_pre_end" "$(lo_stats)"
}

# the stopped listeners, and the preexisting connection's client
preexisting_close() {
	kill -KILL $PRE_CLI $PRE_SRV $FORK_SRV
	wait $PRE_CLI $PRE_SRV $FORK_SRV 2>/dev/null
}

logged() { # file n: syslogd wrote the n messages of logger -t fsk
	[ "$(grep -c ' fsk: ' "$1" 2>/dev/null)" = "$2" ]
}

# UDP: busybox syslogd forwards each message it gets as one datagram from
# an unconnected socket (sendto) to 127.0.0.2:PORT, where nothing listens:
# the kernel answers each with an ICMP port unreachable.  -L also writes
# the messages to a file, after sending them: its lines say when all left.
udp_exchange() { # phase port
	local ph=$1 port=$2 pid

	rm -f /dev/log
	kv "${ph}_lo_udp_start" "$(lo_stats)"
	/bin/syslogd -n -L -O /tmp/$ph.syslog -R 127.0.0.2:$port &
	pid=$!
	started "${ph}_syslogd" $pid
	poll test -S /dev/log
	for m in one two three; do
		/bin/logger -t fsk $m
	done
	poll logged /tmp/$ph.syslog 3
	kv "${ph}_syslog_lines" "$(grep -c ' fsk: ' /tmp/$ph.syslog)"
	sleep 1
	kv "${ph}_lo_udp_end" "$(lo_stats)"
	kill $pid
	wait $pid
}

# A socket used after fork: nc connects, before flowsight starts, to a
# second stopped listener and runs /tmp/fork.sh on the connection (-e).
# Under flowsight the script, told to go, answers once from a forked
# subshell and once itself, then ends (and the connection with it).  The
# owner is the process the start-up iterators found holding the socket;
# the subshell is another process using it.
FORK_SRV="" FORK_CLI=""
comm_is() { # pid name
	[ "$(cat /proc/$1/comm 2>/dev/null)" = "$2" ]
}

fork_open() { # phase port
	local ph=$1 port=$2 addr

	printf '#!/bin/sh\nread go </tmp/go\n(echo child)\necho parent\n' >/tmp/fork.sh
	chmod 755 /tmp/fork.sh
	rm -f /tmp/go
	mkfifo /tmp/go
	/bin/nc -l -p $port >/dev/null &
	FORK_SRV=$!
	wait_listen $port
	kill -STOP $FORK_SRV
	poll stopped $FORK_SRV
	/bin/nc 127.0.0.1 $port -e /tmp/fork.sh &
	FORK_CLI=$!
	poll comm_is $FORK_CLI fork.sh
	poll established $port
	addr=$(client_addr $port ESTABLISHED)
	kv "${ph}_fork_client_pid" $FORK_CLI
	kv "${ph}_fork_client_comm" "$(cat /proc/$FORK_CLI/comm)"
	kv "${ph}_fork_backlog" "$(backlog $port)"
	kv "${ph}_fork_client_port" "${addr##*:}"
	kv "${ph}_fork_client_exe" "$(readlink /proc/$FORK_CLI/exe)"
	kv "${ph}_fork_client_cmdline" "$(tr '\0' ' ' </proc/$FORK_CLI/cmdline)"
}

# "child\nparent\n" and the FIN acknowledged: 13 bytes and the FIN's
# sequence number wait in the server's queue, the client is in FIN_WAIT2
fork_sent() { # local-address port
	[ "$(queues 127.0.0.1:$2 "$1")" = "14 0" ] &&
		netstat -tn | grep -q "$1 *127.0.0.1:$2 *FIN_WAIT2"
}

fork_use() { # phase port
	local ph=$1 port=$2 addr

	addr=$(client_addr $port ESTABLISHED)
	kv "${ph}_lo_fork_start" "$(lo_stats)"
	echo go >/tmp/go
	wait $FORK_CLI
	kv "${ph}_fork_client_rc" $?
	poll fork_sent "$addr" $port
	kv "${ph}_fork_acked" $?
	sleep 1
	kv "${ph}_lo_fork_end" "$(lo_stats)"
}

# The attribution phase: the main workload, then the cases that need no
# second namespace, each between lo's counters.
attr_phase() { # phase capture port
	local ph=$1 base=$3

	preexisting_open $ph $((base + 200))
	fork_open $ph $((base + 400))
	fs_start $ph --capture $2 --system-visibility-mode 2
	if [ $2 = ebpf ]; then
		# all of flowsight's programs are loaded now: their verifier cost here
		prog_stats | sort -u | while read -r prog insns; do
			kv "verified_$prog" "$insns"
		done
	fi
	workload $ph $base
	preexisting_use $ph $((base + 200))
	udp_exchange $ph $((base + 300))
	fork_use $ph $((base + 400))
	fs_stop_all
	preexisting_close
}

# (a)+(b): both captures at once on the same exchange, no attribution;
# a second -v: libbpf's own messages too (a verifier log, if it refuses).
# A second eBPF agent, started once the first is attached, shares lo with
# it (tcx links, or TC filters with handles of their own on 6.1), and stops
# after it; the next agent (attr_ebpf) then finds nothing of theirs left.
# Their lock file is in /run/lock, as on a host.
mkdir -p /run/lock
fs_start ebpf --capture ebpf -v
fs_start ebpf2 --capture ebpf
fs_start pcap --capture pcap
workload count 9000
bulk count 9100
fs_stop_all

# (c): attribution with each capture
attr_phase attr_ebpf ebpf 9001
attr_phase attr_pcap pcap 9002

echo "@@FSK done"
sync
poweroff -f
