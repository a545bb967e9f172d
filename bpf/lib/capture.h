/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: the one capture routine behind tc_ingress, tc_egress, tc_egress_ring and xdp_ingress.
 *
 * Verdict policy: always "next" (TC_ACT_UNSPEC = TCX_NEXT / XDP_PASS). The original packet is never
 * dropped, delayed or modified, and never ends another program's chain: every later tc filter and
 * tcx program still runs. Only a clone (TC) or a copy (ring) leaves this routine.
 * Single exit: every path sets `reason` and jumps to `out`, which counts ST_C_SEEN plus exactly
 * one terminal reason, so the counters always add up.
 */
#ifndef SHADOWTAP_BPF_CAPTURE_H
#define SHADOWTAP_BPF_CAPTURE_H

/* Load-time setting, fixed before load: bytes copied per frame in ring mode. */
const volatile __u32 st_snaplen = ST_DEFAULT_SNAPLEN;

/*
 * Ring records, two ways (measured: docs/architecture.md). A frame of up to ST_RING_STAGED bytes (ACKs,
 * SYNs, small requests: most frames) is staged in a per-CPU buffer and written with
 * bpf_ringbuf_output() at its exact size: the ring's cost is the bytes written into it, so a slot
 * of the right size beats saving a 500-byte copy. A larger one is reserved by size class
 * (bpf_ringbuf_reserve() needs a constant size) and loaded in place, one copy straight from the
 * packet and its fragments: a 1514-byte frame takes a 1536-byte slot, a 64 KiB GSO frame is copied
 * whole, and nothing takes a 64 KiB slot it does not fill.
 */
#define ST_RING_STAGED 512
#define ST_MAX_LOAD 0xffff /* bpf_xdp_load_bytes refuses longer copies (and offsets) */

/* Clamps *len to [1, max] in asm, on the very register later passed to a helper: the caller's
 * tests already bound it, but clang may hand the helper another copy of the value. */
#define ST_CLAMP(len, max)                                                                 \
	asm volatile("if %[l] <= %[m] goto +1\n\t"                                        \
		     "%[l] = %[m]\n\t"                                                      \
		     "if %[l] > 0 goto +1\n\t"                                              \
		     "%[l] = 1"                                                               \
		     : [l] "+r"(len)                                                          \
		     : [m] "i"(max))

static __always_inline __u32 st_ring_staged(void *ctx, enum st_hook hook, const struct st_pkt_meta *meta,
					    __u32 cap_len)
{
	__u32 zero = 0;
	struct st_ring_stage *stage = bpf_map_lookup_elem(&st_stage, &zero);
	__u64 len = cap_len;

	if (!stage || cap_len < ETH_HLEN)
		return ST_C_RING_FAILED;
	ST_CLAMP(len, ST_RING_STAGED);
	if (st_ctx_load_bytes(ctx, hook, 0, stage->data, len) < 0)
		return ST_C_RING_FAILED;
	stage->meta = *meta;
	stage->meta.cap_len = len;
	if (bpf_ringbuf_output(&st_ring, stage, sizeof(stage->meta) + len, 0) < 0)
		return ST_C_RING_FULL;
	return ST_C_RING_SENT;
}

static __always_inline __u32 st_ring_reserved(void *ctx, enum st_hook hook, const struct st_pkt_meta *meta,
					      __u32 cap_len, const __u32 class_len)
{
	struct st_pkt_meta *rec;
	__u64 len = cap_len;

	if (cap_len < ETH_HLEN)
		return ST_C_RING_FAILED;
	rec = bpf_ringbuf_reserve(&st_ring, sizeof(*meta) + class_len, 0);
	if (!rec)
		return ST_C_RING_FULL;
	ST_CLAMP(len, class_len);
	if (class_len > ST_MAX_LOAD && len > ST_MAX_LOAD) {
		/* bpf_xdp_load_bytes copies at most 0xffff bytes a call: the rest in a second one. */
		__u64 rest = len - ST_MAX_LOAD;

		ST_CLAMP(rest, class_len > ST_MAX_LOAD ? class_len - ST_MAX_LOAD : 1);
		if (st_ctx_load_bytes(ctx, hook, 0, rec + 1, ST_MAX_LOAD) < 0 ||
		    st_ctx_load_bytes(ctx, hook, ST_MAX_LOAD, (__u8 *)(rec + 1) + ST_MAX_LOAD, rest) < 0) {
			bpf_ringbuf_discard(rec, 0);
			return ST_C_RING_FAILED;
		}
	} else if (st_ctx_load_bytes(ctx, hook, 0, rec + 1, len > ST_MAX_LOAD ? ST_MAX_LOAD : len) < 0) {
		bpf_ringbuf_discard(rec, 0);
		return ST_C_RING_FAILED;
	}
	*rec = *meta; /* every byte, padding included: the record memory is not zeroed */
	rec->cap_len = len;
	bpf_ringbuf_submit(rec, 0);
	return ST_C_RING_SENT;
}

/* headers_end: copy only this many bytes (a response nothing needs the bytes of, cut after its TCP
 * header as st_capture_snap does in TC mode), 0: the frame up to the snap length. */
static __always_inline __u32 st_ring_copy(void *ctx, enum st_hook hook, __u32 flow_hash, __u32 headers_end)
{
	__u32 pkt_len = st_ctx_len(ctx, hook), cap_len, reason;
	struct st_pkt_meta meta = {};

	cap_len = pkt_len < st_snaplen ? pkt_len : st_snaplen;
	if (cap_len > ST_MAX_SNAPLEN)
		cap_len = ST_MAX_SNAPLEN;
	meta.ts_ns = bpf_ktime_get_ns();
	meta.flow_hash = flow_hash;
	meta.pkt_len = pkt_len;
	meta.ifindex = st_ctx_ifindex(ctx, hook);
	meta.direction = st_hook_direction(hook);
	if (cap_len < pkt_len)
		meta.flags |= ST_PKT_TRUNCATED;
	if (st_ctx_csum_trusted(ctx, hook))
		meta.flags |= ST_PKT_CSUM_TRUSTED;
	if (headers_end && headers_end < cap_len && headers_end <= ST_RING_STAGED) {
		meta.flags &= ~ST_PKT_TRUNCATED; /* cut on purpose, within any snap length: not a truncation */
		return st_ring_staged(ctx, hook, &meta, headers_end);
	}

	/* Size classes above the staged size: a 1500-MTU frame (two VLAN tags included), a 9000-MTU
	 * jumbo frame, powers of two in between and above, and the largest copy. */
	if (cap_len <= ST_RING_STAGED)
		reason = st_ring_staged(ctx, hook, &meta, cap_len);
	else if (cap_len <= 1024)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 1024);
	else if (cap_len <= 1536)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 1536);
	else if (cap_len <= 2048)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 2048);
	else if (cap_len <= 4096)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 4096);
	else if (cap_len <= 8192)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 8192);
	else if (cap_len <= 9216)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 9216);
	else if (cap_len <= 16384)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 16384);
	else if (cap_len <= 32768)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 32768);
	else if (cap_len <= 49152)
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, 49152);
	else
		reason = st_ring_reserved(ctx, hook, &meta, cap_len, ST_MAX_SNAPLEN);
	if (reason == ST_C_RING_SENT && (meta.flags & ST_PKT_TRUNCATED))
		st_count(ST_C_RING_TRUNCATED);
	return reason;
}

/*
 * The ring copy as global functions, one per ring hook: the verifier checks a global function once,
 * with its arguments unknown, instead of once per path that reaches its call. Inlined, the copy's
 * size ladder was walked again for every parse path (IPv4/IPv6, VLAN, tunnels...), and the response
 * cut below (a second way into the copy) took tc_egress_ring past the verifier's 1M instructions.
 */
__attribute__((noinline)) int st_ring_copy_tc(struct __sk_buff *skb, __u32 flow_hash, __u32 headers_end)
{
	return st_ring_copy(skb, ST_HOOK_TC_EGRESS, flow_hash, headers_end);
}

__attribute__((noinline)) int st_ring_copy_xdp(struct xdp_md *xdp, __u32 flow_hash, __u32 headers_end)
{
	return st_ring_copy(xdp, ST_HOOK_XDP_INGRESS, flow_hash, headers_end);
}

/*
 * Whether this packet's connection is mirrored. A SYN decides (hash against the current rate) and
 * records the decision; every later packet, in both directions, follows the record, so a rate
 * change never splits a connection. No record (connection older than the tap, or evicted): decide
 * by hash, which agrees with the SYN's decision unless the rate changed since.
 */
/*
 * The budgets (st_runtime.max_new_conns, max_mirror_bytes) for a sampled SYN: 1 if this second's
 * budget still admits a new connection (and takes it), 0 if it is spent. Fixed one-second
 * windows; the check and the add are not one atomic step, so CPUs racing at the limit can each
 * admit one more (no lock on the packet path).
 */
static __always_inline int st_budget_admits(struct st_runtime *rt)
{
	__u64 now;

	if (!rt->max_new_conns && !rt->max_mirror_bytes)
		return 1;
	now = bpf_ktime_get_ns();
	if (now - rt->window_start_ns >= 1000000000ull) {
		rt->window_start_ns = now;
		rt->window_conns = 0;
		rt->window_bytes = 0;
	}
	if (rt->max_new_conns && rt->window_conns >= rt->max_new_conns)
		return 0;
	if (rt->max_mirror_bytes && rt->window_bytes >= rt->max_mirror_bytes)
		return 0;
	__sync_fetch_and_add(&rt->window_conns, 1);
	return 1;
}

/* What a mirrored packet costs the byte budget (only counted when there is one). */
static __always_inline void st_budget_charge(struct st_runtime *rt, __u32 len)
{
	if (rt->max_mirror_bytes)
		__sync_fetch_and_add(&rt->window_bytes, len);
}

static __always_inline int st_flow_mirrored(struct st_flow_key *key, __u32 hash, __u32 rate_ppm,
					    int syn, struct st_runtime *rt, __u32 ifindex)
{
	struct st_flow_decision decision = {.hash = hash, .ifindex = ifindex}, *recorded;

	recorded = bpf_map_lookup_elem(&st_flows, key);
	/* Decided on another tapped interface (the maps are shared by every interface of an agent):
	 * that one mirrors it, a retransmitted SYN included. */
	if (recorded && recorded->ifindex && recorded->ifindex != ifindex) {
		st_count(ST_C_OTHER_IFACE);
		return 0;
	}
	if (syn) {
		decision.mirrored = st_sampled(hash, rate_ppm);
		/* Overload and budgets shed at connection granularity: the whole connection is
		 * skipped, recorded so its later packets follow the same decision. */
		if (decision.mirrored && rt->admit_paused) {
			decision.mirrored = 0;
			st_count(ST_C_SHED_OVERLOAD);
		} else if (decision.mirrored && !st_budget_admits(rt)) {
			/* A retransmitted SYN of a connection already mirrored keeps it: refusing it
			 * now would cut a connection in the middle. */
			if (recorded && recorded->mirrored == ST_FLOW_MIRRORED)
				return 1;
			decision.mirrored = 0;
			st_count(ST_C_SHED_BUDGET);
		} else if (decision.mirrored) {
			st_count(ST_C_FLOW_ADMITTED);
		}
		if (bpf_map_update_elem(&st_flows, key, &decision, BPF_ANY) == 0)
			st_count(ST_C_FLOW_DECIDED);
		else
			st_count(ST_C_FLOW_RECORD_FAILED);
		return decision.mirrored;
	}
	if (recorded) {
		if (recorded->mirrored == ST_FLOW_SHED) {
			st_count(ST_C_SHED_INFLIGHT);
			return 0;
		}
		return recorded->mirrored == ST_FLOW_MIRRORED;
	}
	st_count(ST_C_FLOW_STATELESS);
	return st_sampled(hash, rate_ppm);
}

/* `hook` and `output` are compile-time constants of each entry point. */
static __always_inline int st_capture(void *ctx, enum st_hook hook, enum st_output output)
{
	enum st_direction dir = st_hook_direction(hook);
	struct st_cursor cur = {
		.ctx = ctx,
		.off = 0,
		.len = st_ctx_len(ctx, hook),
	};
	struct st_packet pkt = {};
	struct st_runtime *rt;
	struct st_rule *rule;
	struct st_lpm_key client = {.prefixlen = 128};
	struct st_flow_key key;
	__u32 zero = 0, reason, hash, mark;
	__u16 service_port;
	int ret, request;

	rt = bpf_map_lookup_elem(&st_runtime, &zero);
	if (!rt || !rt->enabled) {
		reason = ST_C_DISABLED;
		goto out;
	}
	mark = st_ctx_mark(ctx, hook);
	if (rt->skip_mark && mark == rt->skip_mark) {
		reason = ST_C_MARKED;
		goto out;
	}

	ret = st_parse_packet(&cur, hook, &pkt);
	if (ret < 0) {
		reason = -ret;
		goto out;
	}

	/* On a server's NIC requests arrive to the service port and responses leave from it; on a
	 * pod's host-side veth it is the other way round (ST_RT_PORTS_EITHER_SIDE: the hook's side
	 * first, then the other). */
	request = dir == ST_DIR_INGRESS;
	service_port = request ? pkt.dport : pkt.sport;
	rule = bpf_map_lookup_elem(&st_rules, &service_port);
	if ((!rule || !(rule->flags & ST_RULE_ENABLED)) && (rt->flags & ST_RT_PORTS_EITHER_SIDE)) {
		request = !request;
		service_port = request ? pkt.dport : pkt.sport;
		rule = bpf_map_lookup_elem(&st_rules, &service_port);
	}
	if (!rule || !(rule->flags & ST_RULE_ENABLED)) {
		reason = ST_C_PORT_MISS;
		goto out;
	}

	/* The client is the source of a request and the destination of a response. */
	__builtin_memcpy(client.addr, request ? pkt.saddr : pkt.daddr, 16);
	if (bpf_map_lookup_elem(&st_excludes, &client)) {
		reason = ST_C_EXCLUDED;
		goto out;
	}

	st_flow_key_make(&key, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
	hash = st_flow_key_hash(&key, rt->seed);
	if (!st_flow_mirrored(&key, hash, rule->rate_ppm, pkt.syn, rt, st_ctx_ifindex(ctx, hook))) {
		reason = ST_C_NOT_SAMPLED;
		goto out;
	}

	if (output == ST_OUTPUT_RING) {
		/* A response, when nothing needs its bytes (as st_capture_snap decides in TC mode). */
		__u32 headers_end = !request && (rt->flags & ST_RT_RESPONSE_HEADERS_ONLY) &&
					    !bpf_map_lookup_elem(&st_rules, &pkt.dport)
					? pkt.payload_off
					: 0;

		reason = hook == ST_HOOK_XDP_INGRESS ? st_ring_copy_xdp(ctx, hash, headers_end)
						     : st_ring_copy_tc(ctx, hash, headers_end);
	} else {
		/*
		 * The clone leaves by the mirror interface's egress; the original goes on untouched.
		 * The clone carries the skip mark: when the mirror is a tunnel (--mirror-vxlan, or a
		 * user's GRE/VXLAN --mirror-iface) routed out of this same NIC, its encapsulated copy
		 * reaches this program again on egress, and without the mark the inner TCP would match
		 * and be cloned again, forever. The mark is set for the clone alone: the original's is
		 * put back before anything after this program sees it.
		 */
		struct __sk_buff *skb = ctx;
		__u32 saved_mark = skb->mark;

		skb->mark = rt->skip_mark;
		ret = bpf_clone_redirect(ctx, rule->mirror_ifindex, 0);
		skb->mark = saved_mark;
		reason = ret == 0 ? ST_C_CLONED : ST_C_CLONE_FAILED;
	}
	if (reason == ST_C_CLONED || reason == ST_C_RING_SENT)
		st_budget_charge(rt, cur.len);

out:
	st_count(ST_C_SEEN);
	st_count(reason);
	return st_ctx_pass(hook);
}

/*
 * The capture socket's filter (TC mode: SO_ATTACH_BPF on every packet socket reading the mirror):
 * how many bytes of a clone to copy into the ring. A response, when the agent says nothing needs
 * its bytes (ST_RT_RESPONSE_HEADERS_ONLY: no HTTP service), up to the end of its TCP header: its
 * sequence number, ACK and flags are all the replay needs of it, and a download-heavy service no
 * longer fills the ring with bytes thrown away. Everything else whole (0xffffffff: no limit). A
 * packet whose both ports are service ports is not known to be a response: whole.
 */
/* The socket filters' parse: the whole frame from its MAC header. */
static __always_inline int st_parse_socket(struct __sk_buff *skb, enum st_hook hook, struct st_packet *pkt)
{
	struct st_cursor cur = {
		.ctx = skb,
		.off = 0,
		.len = st_ctx_len(skb, hook),
	};

	return st_parse_packet(&cur, hook, pkt);
}

/*
 * The capture ring guard (shared.h: st_ring_guard): whether this frame may enter its worker's ring.
 * `captured`: how much of it the ring would hold. A connection already given up is not captured
 * (its clones still in flight); one whose frame finds the ring past the limit is given up here,
 * whole. Only connections with a recorded decision are: one without is nobody's to give up.
 */
static __always_inline int st_ring_guard_admits(struct st_packet *pkt, struct st_runtime *rt, __u32 captured)
{
	struct st_ring_guard *guard;
	struct st_flow_decision *decision;
	struct st_flow_key key;
	__u64 now, epoch, seen, old, next;
	__u32 index = 0, block_bytes;
	int new_period = 0, i;

	guard = bpf_map_lookup_elem(&st_ring_guards, &index);
	if (!guard || !guard->limit)
		return 1;
	st_flow_key_make(&key, pkt->saddr, pkt->sport, pkt->daddr, pkt->dport);
	if (guard->workers > 1) {
		/* The worker the fan-out picked: the kernel takes fanout_flow's hash modulo its size. */
		index = st_flow_key_hash(&key, rt->seed ^ ST_FANOUT_SALT) % guard->workers;
		guard = bpf_map_lookup_elem(&st_ring_guards, &index);
		if (!guard || !guard->limit)
			return 1;
	}
	decision = bpf_map_lookup_elem(&st_flows, &key);
	if (decision && decision->mirrored == ST_FLOW_SHED)
		return 0;
	if (decision && decision->mirrored == ST_FLOW_MIRRORED &&
	    (__s64)(guard->admitted - *(volatile __u64 *)&guard->read) > (__s64)guard->limit) {
		decision->mirrored = ST_FLOW_SHED;
		__sync_fetch_and_add(&guard->shed, 1);
		if (pkt->syn)
			st_count(ST_C_RING_GUARD);
		return 0;
	}
	/* The frame's cost, and the rest of the block the kernel handed over when this frame is the
	 * first of a new retire period (one CPU wins the period; the others only add). */
	block_bytes = guard->block_bytes;
	if (guard->block_ns) {
		now = bpf_ktime_get_ns();
		epoch = now / guard->block_ns;
		seen = guard->epoch;
		new_period = seen != epoch && __sync_val_compare_and_swap(&guard->epoch, seen, epoch) == seen;
	}
	for (i = 0; i < 4; i++) {
		old = *(volatile __u64 *)&guard->admitted;
		next = st_ring_guard_charge(old, captured, block_bytes, new_period);
		if (__sync_val_compare_and_swap(&guard->admitted, old, next) == old)
			return 1;
	}
	/* Lost the race four times (CPUs filling the same ring): charge the most this frame can
	 * cost (a new block's header, the frame, and the rest of the open block: all of it when a
	 * period is new, less than the frame when it does not fit), so the estimate errs towards a
	 * fuller ring, never an emptier one. */
	next = captured + ST_RING_FRAME_OVERHEAD;
	__sync_fetch_and_add(&guard->admitted, ST_RING_BLOCK_HEADER + next + (new_period ? block_bytes : next));
	return 1;
}

static __always_inline __u32 st_capture_snap(struct __sk_buff *skb)
{
	struct st_packet pkt = {};
	struct st_runtime *rt;
	__u32 zero = 0, snap = 0xffffffff;

	rt = bpf_map_lookup_elem(&st_runtime, &zero);
	if (!rt)
		return snap;
	if (st_parse_socket(skb, ST_HOOK_SOCKET_AT_MAC, &pkt) < 0)
		return snap;
	/* A response, when nothing needs its bytes: captured up to the end of its TCP header. */
	if ((rt->flags & ST_RT_RESPONSE_HEADERS_ONLY) && bpf_map_lookup_elem(&st_rules, &pkt.sport) &&
	    !bpf_map_lookup_elem(&st_rules, &pkt.dport))
		snap = pkt.payload_off;
	if (!st_ring_guard_admits(&pkt, rt, skb->len < snap ? skb->len : snap))
		return 0;
	return snap;
}

/*
 * The capture fan-out (TC mode, several workers): the agent's packet sockets on the mirror join one
 * PACKET_FANOUT_EBPF group that runs this on every clone. It returns the connection's hash of the
 * inner, direction-normalised tuple (the kernel takes it modulo the number of sockets), so both
 * directions of a connection reach the same worker, tunnelled or not: the kernel's own fan-out
 * hash does not open VXLAN or Geneve, whose two directions differ in their outer UDP ports.
 * Salted (ST_FANOUT_SALT), so the worker a connection goes to says nothing about its sampling
 * decision. A frame that does not parse goes to the first worker (it is nobody's connection).
 */
static __always_inline __u32 st_fanout(struct __sk_buff *skb)
{
	struct st_packet pkt = {};
	struct st_flow_key key;
	struct st_runtime *rt;
	__u32 zero = 0;

	if (st_parse_socket(skb, ST_HOOK_SOCKET, &pkt) < 0)
		return 0;
	rt = bpf_map_lookup_elem(&st_runtime, &zero);
	st_flow_key_make(&key, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
	return st_flow_key_hash(&key, (rt ? rt->seed : 0) ^ ST_FANOUT_SALT);
}

#endif
