// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live capture in the kernel: TC ingress/egress programs parse every packet
 * (parse.bpf.h), add it to its flow's struct fc_meter in a hash map under
 * the entry's bpf_spin_lock, and copy the first cfg.n_samples packets of
 * each flow into the ring buffer for nDPI and SPLT.  Userspace
 * (agent/live_ebpf.c) drains the flow maps; it never sees the other packets.
 *
 * Draining without losing packets: there are two interval maps.  Programs
 * write to the one named by `active_map`; userspace flips it, waits until
 * every program that could still hold the old map has finished (an RCU
 * grace period, forced by updating the sync_outer map-in-map), and then
 * reads and empties the old map, which nobody writes any more.
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
#define FC_PULL_BYTES 192
#define E2BIG_ 7
#define ENOMEM_ 12
#define EEXIST_ 17

const volatile struct fc_capture_cfg cfg = { .n_samples = 20, .snaplen = 1536 };

/* Written by userspace through the mmaped .bss. */
__u64 mono_to_real_ns;   /* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed every drain */
__u32 active_map;        /* 0: flows_a, 1: flows_b */

struct flow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FC_FLOW_MAP_ENTRIES);
	__type(key, struct fc_flow_key);
	__type(value, struct fc_flow_val);
};

/* fc_flow_key -> fc_flow_val of the current interval; drained by live_ebpf */
struct flow_map flows_a SEC(".maps");
struct flow_map flows_b SEC(".maps");

/* fc_flow_key -> fc_flow_ctl for every live flow; deleted at expiry by live_ebpf */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, FC_CTL_ENTRIES);
	__type(key, struct fc_flow_key);
	__type(value, struct fc_flow_ctl);
} flow_ctl SEC(".maps");

/* struct fc_event records (samples and punted packets) -> live_ebpf */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* enum fc_counter -> __u64 per CPU; summed by live_ebpf_counters() */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FC_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
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

static __always_inline void count(enum fc_counter c, __u64 n)
{
	__u32 k = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &k);

	if (v)
		*v += n;
}

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

/*
 * Copy the frame into an event and submit it.  @len is the frame length as
 * the skb holds it.  Wakes the reader only when a good amount is pending:
 * userspace polls on a short timeout anyway.
 */
static __always_inline int emit(struct __sk_buff *skb, struct scratch *s, __u32 caplen)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

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
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (1 << 20))
		flags = BPF_RB_FORCE_WAKEUP;
	return bpf_ringbuf_output(&events, &s->ev, sizeof(s->ev) + n, flags);
}

static __always_inline void punt(struct __sk_buff *skb, struct scratch *s, const struct fc_flow_key *k,
				 enum fc_punt why)
{
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.type = FC_EV_PACKET;
	s->ev.ifindex = skb->ifindex;
	s->ev.ts_ms = now_ms();
	if (k)
		s->ev.key = *k;
	s->ev.len = skb->len;
	s->ev.gso_segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	s->ev.reason = why;
	s->ev.vlan_tci = (__u16)skb->vlan_tci;
	s->ev.vlan_tagged = !!skb->vlan_present;
	count(why == FC_PUNT_COMPLEX ? FC_CNT_PUNT_COMPLEX :
	      why == FC_PUNT_MAP_FULL ? FC_CNT_PUNT_FULL : FC_CNT_PUNT_BUSY, 1);
	if (emit(skb, s, skb->len))
		count(FC_CNT_PUNT_LOST, 1);
}

/* The entry of @k in the active interval map, created if needed. */
static __always_inline struct fc_flow_val *flow_entry(struct __sk_buff *skb, struct scratch *s,
						       const struct fc_flow_key *k, int dir, int *err)
{
	__u32 which = active_map;
	void *map = which ? (void *)&flows_b : (void *)&flows_a;
	struct fc_flow_val *v = bpf_map_lookup_elem(map, k);
	struct fc_flow_ctl *ctl, zero_ctl = {};

	if (v)
		return v;
	__builtin_memset(&s->val, 0, sizeof(s->val));
	s->val.ifindex = skb->ifindex;
	s->val.first_dir = (__u8)dir;
	ctl = bpf_map_lookup_elem(&flow_ctl, k);
	if (!ctl) {
		int r = bpf_map_update_elem(&flow_ctl, k, &zero_ctl, BPF_NOEXIST);

		if (!r)
			s->val.flags |= FC_VAL_NEW;
		else if (r != -EEXIST_) {
			s->val.flags |= FC_VAL_NOCTL | FC_VAL_SAMPLE_DONE;
			count(FC_CNT_CTL_FULL, 1);
		}
	}
	*err = bpf_map_update_elem(map, k, &s->val, BPF_NOEXIST);
	if (*err && *err != -EEXIST_)
		return NULL;
	*err = 0;
	return bpf_map_lookup_elem(map, k);
}

static __always_inline int handle(struct __sk_buff *skb)
{
	struct fc_cursor c;
	struct fc_parsed pp = {};
	struct fc_flow_key key = {};
	struct fc_flow_val *v;
	struct fc_flow_ctl *ctl = NULL;
	struct scratch *s;
	__u32 zero = 0, hdr = 0, size, segs, counted, idx = 0;
	__u64 t;
	int dir, verdict, err = 0, sample = 0;
	__u32 want = skb->len < FC_PULL_BYTES ? skb->len : FC_PULL_BYTES;

	count(FC_CNT_PACKETS, 1);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return TC_ACT_UNSPEC;
	if ((long)skb->data_end - (long)skb->data < (long)want)
		bpf_skb_pull_data(skb, want);
	c.data = ctx_load(skb, __builtin_offsetof(struct __sk_buff, data));
	c.data_end = ctx_load(skb, __builtin_offsetof(struct __sk_buff, data_end));

	if (skb->vlan_present && skb->vlan_proto != bpf_htons(FC_ETH_P_8021Q))
		verdict = FC_V_PUNT; /* 802.1ad outer tag: decode.c decides */
	else
		verdict = fc_parse_eth(&c, &pp, skb->len, skb->vlan_present, skb->vlan_tci,
				       cfg.decode_tunnels);
	switch (verdict) {
	case FC_V_OK:
		break;
	case FC_V_PUNT:
		punt(skb, s, NULL, FC_PUNT_COMPLEX);
		return TC_ACT_UNSPEC;
	case FC_V_NOT_IP:
		count(FC_CNT_NOT_IP, 1);
		return TC_ACT_UNSPEC;
	case FC_V_FRAGMENT:
		count(FC_CNT_FRAGMENT, 1);
		return TC_ACT_UNSPEC;
	case FC_V_IPV6_EXT:
		count(FC_CNT_IPV6_EXT, 1);
		return TC_ACT_UNSPEC;
	default:
		count(FC_CNT_TRUNC, 1);
		return TC_ACT_UNSPEC;
	}

	dir = fc_make_key(&pp, &key);
	v = flow_entry(skb, s, &key, dir, &err);
	if (!v) {
		punt(skb, s, &key, err == -E2BIG_ || err == -ENOMEM_ ? FC_PUNT_MAP_FULL
								      : FC_PUNT_MAP_BUSY);
		return TC_ACT_UNSPEC;
	}
	if (v->ifindex != skb->ifindex) {
		count(FC_CNT_DUP_IFACE, 1);
		return TC_ACT_UNSPEC;
	}
	if (!(v->flags & FC_VAL_SAMPLE_DONE))
		ctl = bpf_map_lookup_elem(&flow_ctl, &key);

	size = fc_size(&pp, cfg.accounting_mode, &hdr);
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	t = now_ms();

	bpf_spin_lock(&v->lock);
	if (t < v->m.last_ms)
		t = v->m.last_ms; /* packets from another CPU may lock first */
	counted = fc_meter_add_skb(&v->m, dir, t, size, hdr, skb->gso_size, segs, pp.tcp_flags);
	if (counted > 1)
		v->flags |= FC_VAL_GSO;
	if (!(v->flags & FC_VAL_SAMPLE_DONE)) {
		if (!ctl || ctl->done || ctl->sampled >= cfg.n_samples) {
			v->flags |= FC_VAL_SAMPLE_DONE;
		} else {
			idx = ctl->sampled++;
			sample = 1;
		}
	}
	bpf_spin_unlock(&v->lock);

	count(FC_CNT_METERED, 1);
	if (counted > 1) {
		count(FC_CNT_GSO_SKBS, 1);
		count(FC_CNT_SEGMENTS, counted);
	}
	if (sample) {
		__builtin_memset(&s->ev, 0, sizeof(s->ev));
		s->ev.type = FC_EV_SAMPLE;
		s->ev.ifindex = skb->ifindex;
		s->ev.ts_ms = t;
		s->ev.key = key;
		s->ev.len = skb->len;
		s->ev.idx = idx;
		s->ev.gso_segs = (__u16)segs;
		s->ev.dir = (__u8)dir;
		s->ev.vlan_tci = (__u16)skb->vlan_tci;
		s->ev.vlan_tagged = !!skb->vlan_present;
		if (emit(skb, s, skb->len < cfg.snaplen ? skb->len : cfg.snaplen))
			count(FC_CNT_SAMPLE_LOST, 1);
		else
			count(FC_CNT_SAMPLES, 1);
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
