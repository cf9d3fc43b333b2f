// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live capture in the kernel: TC ingress/egress programs parse every packet
 * (parse.bpf.h); the first cfg.n_samples packets of each flow go whole into
 * the ring buffer for nDPI and SPLT, with what userspace needs to meter
 * them.  Past its samples, a flow's first packet in each drain interval
 * goes to the ring buffer as a meter record (no frame), and the next ones
 * of the interval are added to its struct fc_meter in a hash map under the
 * entry's bpf_spin_lock.  So a flow being sampled, or sending one packet
 * per interval (most small flows), has no map entry to create, read, find
 * idle and delete at every drain: it costs a record per packet instead,
 * while a busy flow costs one record and one entry per interval.  Userspace
 * (agent/capture/capture_ebpf.c) drains the flow maps; it never sees the
 * other packets.
 *
 * Draining without losing packets: there are two interval maps.  Programs
 * write to map `interval & 1`; userspace starts the next interval, waits
 * until every program that could still hold the old map has finished (an
 * RCU grace period, forced by updating the sync_outer map-in-map), and
 * then reads the old map, which nobody writes any more.
 *
 * Entries outlive their interval: each is stamped with the interval it
 * holds, and the first packet of a later interval resets it in place
 * (under its lock) instead of userspace deleting it at every drain and the
 * kernel allocating it again.  Userspace deletes only entries that stayed
 * idle for a whole interval of their map.
 *
 * Nothing is dropped silently: a packet whose flow cannot get a map entry,
 * or that the parser leaves to userspace, goes whole through the ring
 * buffer; when even that fails, a per-CPU counter says so.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fc_flow.h"
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TC_ACT_UNSPEC (-1)
#define FC_FLOW_MAP_ENTRIES 262144
#define FC_CTL_ENTRIES 1048576
#define FC_PULL_BYTES 192 /* pulled only when the headers are not linear */
#define E2BIG_ 7
#define ENOMEM_ 12
#define EEXIST_ 17
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))

const volatile struct fc_capture_cfg cfg = { .n_samples = 20, .snaplen = 1536 };

/* Written by userspace through the mmaped .bss. */
__u64 mono_to_real_ns;   /* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed every drain */
__u32 interval;          /* current drain interval: map interval & 1, stamp of its entries */

struct flow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FC_FLOW_MAP_ENTRIES);
	__type(key, struct fc_flow_key);
	__type(value, struct fc_flow_val);
};

/* fc_flow_key -> fc_flow_val of the current interval; drained by capture_ebpf.c */
struct flow_map flows_a SEC(".maps");
struct flow_map flows_b SEC(".maps");

/* fc_flow_key -> fc_flow_ctl for every live flow; deleted at expiry by capture_ebpf.c */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FC_CTL_ENTRIES);
	__type(key, struct fc_flow_key);
	__type(value, struct fc_flow_ctl);
} flow_ctl SEC(".maps");

/* struct fc_event records (samples and punted packets) -> capture_ebpf.c */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* 0 -> this CPU's counters, indexed by enum fc_counter: one lookup per
 * packet for all of them; summed by ebpf_capture_counters() */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fc_counters);
} counters SEC(".maps");

struct scratch {
	struct fc_flow_val val;
	struct fc_event ev;
	__u8 data[FC_SNAP_MAX];
};

/* 0 -> per-CPU room for a new map value and an event (too big for the stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* 0 -> any map: userspace updates it only to wait for an RCU grace period */
struct sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sync_inner);
} sync_outer SEC(".maps");

/*
 * skb->data / skb->data_end after bpf_skb_pull_data(): an explicit load
 * with a constant offset, because clang may otherwise reuse a computed
 * ctx + offset pointer, which the verifier refuses.
 */
#define ctx_load(skb, off)                                                          \
	({                                                                          \
		__u64 ___v;                                                         \
		asm volatile("%[v] = *(u32 *)(%[ctx] + %[o])"                        \
			     : [v] "=r"(___v)                                       \
			     : [ctx] "r"(skb), [o] "i"(off));                       \
		(void *)(long)___v;                                                 \
	})

static __always_inline __u64 now_ms(void)
{
	return (bpf_ktime_get_ns() + mono_to_real_ns) / 1000000;
}

/* Wake the reader only when a good amount is pending: userspace polls on a
 * short timeout anyway. */
static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (1 << 20) ? BPF_RB_FORCE_WAKEUP
									  : BPF_RB_NO_WAKEUP;
}

/* Event @e zeroed, then what every record says of its packet. */
static __always_inline void ev_head(struct fc_event *e, __u32 type, struct __sk_buff *skb,
				    const struct fc_flow_key *k, __u64 t)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->ifindex = skb->ifindex;
	e->ts_ms = t;
	if (k)
		e->key = *k;
	e->len = skb->len;
	e->vlan_tci = (__u16)skb->vlan_tci;
	e->vlan_tagged = !!skb->vlan_present;
}

/* What the kernel would add to its map for the packet, for userspace to
 * meter (samples and meter records). */
static __always_inline void ev_meter(struct fc_event *e, struct __sk_buff *skb,
				     const struct fc_parsed *pp, __u32 size, __u32 hdr, __u32 segs,
				     int dir, __u32 cur)
{
	e->gso_segs = (__u16)segs;
	e->dir = (__u8)dir;
	e->tcp_flags = pp->tcp_flags;
	e->gso_size = (__u16)skb->gso_size;
	e->hdr = (__u16)hdr;
	e->size = size;
	e->interval = cur;
}

/*
 * Copy the frame into an event and submit it.  @len is the frame length as
 * the skb holds it.
 */
static __always_inline int emit(struct __sk_buff *skb, struct scratch *s, __u32 caplen)
{
	__u64 n = caplen;

	if (n > FC_SNAP_MAX)
		n = FC_SNAP_MAX;
	if (n < 1)
		return -1;
	/* the same value, in a form the verifier bounds to [1, FC_SNAP_MAX] */
	n = ((n - 1) & (FC_SNAP_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, s->data, n))
		return -1;
	s->ev.caplen = (__u32)n;
	return bpf_ringbuf_output(&events, &s->ev, sizeof(s->ev) + n, wake_flags());
}

static __always_inline void punt(struct __sk_buff *skb, struct scratch *s, struct fc_counters *cnt,
				 const struct fc_flow_key *k, enum fc_punt why)
{
	ev_head(&s->ev, FC_EV_PACKET, skb, k, now_ms());
	s->ev.gso_segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	s->ev.reason = why;
	cnt->c[why == FC_PUNT_COMPLEX ? FC_CNT_PUNT_COMPLEX :
	       why == FC_PUNT_MAP_FULL ? FC_CNT_PUNT_FULL : FC_CNT_PUNT_BUSY]++;
	if (emit(skb, s, skb->len))
		cnt->c[FC_CNT_PUNT_LOST]++;
}

/* Sampling of a flow: its packet of index *idx is a sample (SAMPLE_TAKE),
 * its sampling is over (SAMPLE_DONE_NOW), or a packet of its that another
 * interface saw first (SAMPLE_DUP). */
enum { SAMPLE_TAKE, SAMPLE_DONE_NOW, SAMPLE_DUP };

/*
 * @k's sampling state, created by the flow's first packet (*flags gets
 * FC_VAL_NEW), and what to do with this packet.  An index is handed out
 * under the state's lock, so each of the first n_samples packets gets its
 * own, whichever CPU runs it.  The ctl map full: no sampling, and
 * FC_VAL_NOCTL.
 */
static __always_inline int sample_state(struct __sk_buff *skb, const struct fc_flow_key *k,
					struct fc_counters *cnt, __u8 *flags, __u32 *idx,
					struct fc_flow_ctl **ctlp)
{
	struct fc_flow_ctl *ctl = bpf_map_lookup_elem(&flow_ctl, k);
	int what = SAMPLE_DONE_NOW;

	if (!ctl) {
		struct fc_flow_ctl zero_ctl = { .ifindex = skb->ifindex };
		int r = bpf_map_update_elem(&flow_ctl, k, &zero_ctl, BPF_NOEXIST);

		if (!r) {
			*flags |= FC_VAL_NEW;
		} else if (r != -EEXIST_) {
			cnt->c[FC_CNT_CTL_FULL]++;
			*flags |= FC_VAL_NOCTL;
			return SAMPLE_DONE_NOW;
		}
		ctl = bpf_map_lookup_elem(&flow_ctl, k);
		if (!ctl)
			return SAMPLE_DONE_NOW;
	}
	*ctlp = ctl;
	if (READ_ONCE(ctl->done) || READ_ONCE(ctl->sampled) >= cfg.n_samples)
		return SAMPLE_DONE_NOW;
	bpf_spin_lock(&ctl->lock);
	if (ctl->ifindex != skb->ifindex) {
		what = SAMPLE_DUP;
	} else if (!ctl->done && ctl->sampled < cfg.n_samples) {
		*idx = ctl->sampled++;
		what = SAMPLE_TAKE;
	}
	bpf_spin_unlock(&ctl->lock);
	return what;
}

/*
 * @k's entry in the map of interval @cur.  One call site per map, kept
 * apart by two asm statements that differ (clang would otherwise merge
 * them into one call on a selected map pointer): the verifier then inlines
 * each lookup into a direct call of the hash map's lookup, where a map
 * pointer it cannot know leaves the generic helper and its indirect call
 * (a retpoline here) into the map's ops.
 */
static __always_inline struct fc_flow_val *flow_lookup(__u32 cur, const struct fc_flow_key *k)
{
	struct fc_flow_val *v;

	if (cur & 1) {
		v = bpf_map_lookup_elem(&flows_b, k);
		asm volatile("%[v] = %[v]" : [v] "+r"(v));
	} else {
		v = bpf_map_lookup_elem(&flows_a, k);
		asm volatile("%[v] = %[v]" : [v] "+r"(v) : : "memory");
	}
	return v;
}

/*
 * Create @k's entry in @map for interval @cur, with @s as scratch.
 * Returns NULL with *err set when the map refuses it.
 */
static __always_inline struct fc_flow_val *flow_entry_new(struct __sk_buff *skb, void *map,
							   struct scratch *s, const struct fc_flow_key *k,
							   int dir, __u32 cur, __u8 flags, int *err)
{
	__builtin_memset(&s->val, 0, sizeof(s->val));
	s->val.ifindex = skb->ifindex;
	s->val.first_dir = (__u8)dir;
	s->val.flags = flags;
	s->val.interval = cur;
	*err = bpf_map_update_elem(map, k, &s->val, BPF_NOEXIST);
	if (*err && *err != -EEXIST_)
		return NULL;
	*err = 0;
	return bpf_map_lookup_elem(map, k);
}

/*
 * Parse the frame from the skb's linear data.  A static function, not
 * inlined: handle() calls it twice, and the verifier checks it once per
 * call without doubling the program.
 */
static __noinline int parse_skb(struct __sk_buff *skb, struct fc_parsed *pp)
{
	struct fc_cursor c;

	c.data = ctx_load(skb, __builtin_offsetof(struct __sk_buff, data));
	c.data_end = ctx_load(skb, __builtin_offsetof(struct __sk_buff, data_end));
	if (skb->vlan_present && skb->vlan_proto != bpf_htons(FC_ETH_P_8021Q))
		return FC_V_PUNT; /* 802.1ad outer tag: decode.c decides */
	return fc_parse_eth(&c, pp, skb->len, skb->vlan_present, skb->vlan_tci,
			    cfg.decode_tunnels);
}

/*
 * Parse with the headers where they are, and only when the parser needed
 * bytes past the linear data, pull up to FC_PULL_BYTES and parse again.
 * Pulling every skb would copy, for a cloned GSO skb (any TCP sender's),
 * its whole head: that was most of our cost under a bulk transfer.  Only
 * PUNT and NOT_IP depend on how much is linear (fc_ptr() failing), and the
 * parser reads the same bytes either way, so the verdicts equal those of
 * always pulling.
 */
static __always_inline int parse(struct __sk_buff *skb, struct fc_parsed *pp)
{
	__u32 want = skb->len < FC_PULL_BYTES ? skb->len : FC_PULL_BYTES;
	int verdict = parse_skb(skb, pp);

	if ((verdict == FC_V_PUNT || verdict == FC_V_NOT_IP) &&
	    (long)skb->data_end - (long)skb->data < (long)want &&
	    !bpf_skb_pull_data(skb, want)) {
		__builtin_memset(pp, 0, sizeof(*pp));
		verdict = parse_skb(skb, pp);
	}
	return verdict;
}

/*
 * Past its samples, a flow's packet that finds no entry of this interval:
 * IV_FIRST when it is the flow's first in interval @cur (it becomes a
 * meter event), IV_LATER for the next ones from the same interface (they
 * make and use the map entry), IV_DUP for another interface's copies.
 */
enum { IV_FIRST, IV_LATER, IV_DUP };

static __always_inline int interval_first(struct __sk_buff *skb, struct fc_flow_ctl *ctl,
					  __u32 cur)
{
	int what = IV_LATER;

	if (READ_ONCE(ctl->iv) == cur + 1 && READ_ONCE(ctl->ifindex) == skb->ifindex)
		return IV_LATER;
	bpf_spin_lock(&ctl->lock);
	if (ctl->iv != cur + 1) {
		ctl->iv = cur + 1;
		ctl->ifindex = skb->ifindex;
		what = IV_FIRST;
	} else if (ctl->ifindex != skb->ifindex) {
		what = IV_DUP;
	}
	bpf_spin_unlock(&ctl->lock);
	return what;
}

/* The packet as an FC_EV_METER record (no frame): true when the ring
 * buffer took it, else the caller meters it in the map. */
static __always_inline bool meter_event(struct __sk_buff *skb, struct fc_counters *cnt,
					const struct fc_flow_key *key, const struct fc_parsed *pp,
					__u32 size, __u32 hdr, __u32 segs, int dir, __u32 cur)
{
	__u64 flags = wake_flags();
	struct fc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return false;
	ev_head(e, FC_EV_METER, skb, key, now_ms());
	ev_meter(e, skb, pp, size, hdr, segs, dir, cur);
	bpf_ringbuf_submit(e, flags);
	cnt->c[FC_CNT_METER_EVENTS]++;
	return true;
}

/* Packet @idx of its flow to userspace, with what its meter needs (the
 * kernel's size and header bytes under the accounting mode, GSO, flags).
 * True when it is in the ring buffer. */
static __always_inline bool sample(struct __sk_buff *skb, struct scratch *s,
				   struct fc_counters *cnt, const struct fc_flow_key *key,
				   const struct fc_parsed *pp, __u64 t, __u32 idx, __u32 size,
				   __u32 hdr, __u32 segs, int dir, __u32 cur)
{
	ev_head(&s->ev, FC_EV_SAMPLE, skb, key, t);
	ev_meter(&s->ev, skb, pp, size, hdr, segs, dir, cur);
	s->ev.idx = idx;
	if (emit(skb, s, skb->len < cfg.snaplen ? skb->len : cfg.snaplen)) {
		cnt->c[FC_CNT_SAMPLE_LOST]++;
		return false;
	}
	cnt->c[FC_CNT_SAMPLES]++;
	return true;
}

/*
 * One packet.  The common case, a packet of a flow past its samples that
 * already has an entry this interval, costs one counters lookup, the parse,
 * one flow map lookup and the meter update under the entry's lock; the
 * scratch buffer and the ctl map are touched only for new entries, samples
 * and punts.  A sample is not metered here: userspace meters it from its
 * event.  A sample the ring buffer cannot take is metered here instead
 * (its index is lost to nDPI, its packet is not).
 */
static __always_inline int handle(struct __sk_buff *skb)
{
	struct fc_parsed pp = {};
	struct fc_flow_key key = {};
	struct fc_flow_val *v;
	struct fc_flow_ctl *ctl = NULL;
	struct fc_counters *cnt;
	struct scratch *s = NULL;
	__u32 zero = 0, hdr = 0, size, segs, counted, idx = 0;
	__u64 t;
	void *map;
	int dir, verdict, err = 0, stale;
	__u32 cur;
	__u8 nflags = 0;

	cnt = bpf_map_lookup_elem(&counters, &zero);
	if (!cnt)
		return TC_ACT_UNSPEC;
	cnt->c[FC_CNT_PACKETS]++;
	verdict = parse(skb, &pp);
	switch (verdict) {
	case FC_V_OK:
		break;
	case FC_V_PUNT:
		s = bpf_map_lookup_elem(&scratch, &zero);
		if (s)
			punt(skb, s, cnt, NULL, FC_PUNT_COMPLEX);
		return TC_ACT_UNSPEC;
	case FC_V_NOT_IP:
		cnt->c[FC_CNT_NOT_IP]++;
		return TC_ACT_UNSPEC;
	case FC_V_FRAGMENT:
		cnt->c[FC_CNT_FRAGMENT]++;
		return TC_ACT_UNSPEC;
	case FC_V_IPV6_EXT:
		cnt->c[FC_CNT_IPV6_EXT]++;
		return TC_ACT_UNSPEC;
	default:
		cnt->c[FC_CNT_TRUNC]++;
		return TC_ACT_UNSPEC;
	}

	dir = fc_make_key(&pp, &key);
	size = fc_size(&pp, cfg.accounting_mode, &hdr);
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	cur = interval;
	map = cur & 1 ? (void *)&flows_b : (void *)&flows_a;
	v = flow_lookup(cur, &key);
	/* Only this interval's programs stamp entries of this map with cur:
	 * an entry read as current stays current while we run. */
	stale = !v || READ_ONCE(v->interval) != cur;
	if (stale || !(READ_ONCE(v->flags) & FC_VAL_SAMPLE_DONE)) {
		int sampling = sample_state(skb, &key, cnt, &nflags, &idx, &ctl);

		if (sampling == SAMPLE_DUP) {
			cnt->c[FC_CNT_DUP_IFACE]++;
			return TC_ACT_UNSPEC;
		}
		if (sampling == SAMPLE_TAKE) {
			s = bpf_map_lookup_elem(&scratch, &zero);
			if (s && sample(skb, s, cnt, &key, &pp, now_ms(), idx, size, hdr, segs,
					dir, cur))
				return TC_ACT_UNSPEC;
			if (!s)
				cnt->c[FC_CNT_SAMPLE_LOST]++;
			/* lost: the packet is metered here, and the flow's
			 * next packet asks for a sample again */
		} else {
			nflags |= FC_VAL_SAMPLE_DONE;
			if (stale && ctl) {
				int first = interval_first(skb, ctl, cur);

				if (first == IV_DUP) {
					cnt->c[FC_CNT_DUP_IFACE]++;
					return TC_ACT_UNSPEC;
				}
				if (first == IV_FIRST && meter_event(skb, cnt, &key, &pp, size, hdr,
								     segs, dir, cur))
					return TC_ACT_UNSPEC;
			}
		}
	}
	if (!v) {
		s = bpf_map_lookup_elem(&scratch, &zero);
		if (!s)
			return TC_ACT_UNSPEC;
		v = flow_entry_new(skb, map, s, &key, dir, cur, nflags, &err);
		if (!v) {
			punt(skb, s, cnt, &key, err == -E2BIG_ || err == -ENOMEM_ ? FC_PUNT_MAP_FULL
									   : FC_PUNT_MAP_BUSY);
			return TC_ACT_UNSPEC;
		}
	}
	t = now_ms();

	bpf_spin_lock(&v->lock);
	if (v->interval != cur) {
		/* the interval's first packet: the entry holds an older one,
		 * which userspace has read */
		__builtin_memset(&v->m, 0, sizeof(v->m));
		v->interval = cur;
		v->ifindex = skb->ifindex;
		v->first_dir = (__u8)dir;
		v->flags = nflags;
	} else {
		/* another CPU started the interval first, or created the
		 * entry: it may not have been the one that created the ctl;
		 * or sampling ended with this packet */
		v->flags |= nflags & (FC_VAL_NEW | FC_VAL_SAMPLE_DONE);
	}
	if (v->ifindex != skb->ifindex) {
		bpf_spin_unlock(&v->lock);
		cnt->c[FC_CNT_DUP_IFACE]++;
		return TC_ACT_UNSPEC;
	}
	if (t < v->m.last_ms)
		t = v->m.last_ms; /* packets from another CPU may lock first */
	counted = fc_meter_add_skb(&v->m, dir, t, size, hdr, skb->gso_size, segs, pp.tcp_flags);
	if (counted > 1)
		v->flags |= FC_VAL_GSO;
	bpf_spin_unlock(&v->lock);

	cnt->c[FC_CNT_METERED]++;
	if (counted > 1) {
		cnt->c[FC_CNT_GSO_SKBS]++;
		cnt->c[FC_CNT_SEGMENTS] += counted;
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fs_tc_ingress(struct __sk_buff *skb)
{
	return handle(skb);
}

SEC("tc")
int fs_tc_egress(struct __sk_buff *skb)
{
	return handle(skb);
}
