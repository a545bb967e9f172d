/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: the one capture routine behind tc_ingress, tc_egress and xdp_ingress.
 *
 * Verdict policy: always pass (TC_ACT_OK / XDP_PASS). The original packet is never dropped,
 * delayed or modified; only a clone (TC) or a copy (ring) leaves this routine.
 * Single exit: every path sets `reason` and jumps to `out`, which counts ST_C_SEEN plus exactly
 * one terminal reason, so the counters always add up.
 */
#ifndef SHADOWTAP_BPF_CAPTURE_H
#define SHADOWTAP_BPF_CAPTURE_H

/* Load-time settings, fixed before load (the verifier prunes what they disable). */
const volatile __u32 st_output = ST_OUTPUT_CLONE; /* enum st_output */
const volatile __u32 st_snaplen = ST_DEFAULT_SNAPLEN;

static __always_inline __u32 st_ring_copy(void *ctx, enum st_hook hook, __u32 flow_hash)
{
	__u32 zero = 0, len, pkt_len = st_ctx_len(ctx, hook);
	struct st_ring_record *rec = bpf_map_lookup_elem(&st_scratch, &zero);

	if (!rec)
		return ST_C_RING_FAILED;
	len = pkt_len < st_snaplen ? pkt_len : st_snaplen;
	if (len > ST_MAX_SNAPLEN)
		len = ST_MAX_SNAPLEN;
	/* clang tends to pass the unclamped copy of len to the helper; an opaque barrier plus a
	 * mask gives the verifier a bound on the very register used (the scratch buffer is sized
	 * to the mask, the clamp above is the real limit). */
	asm volatile("" : "+r"(len));
	len &= ST_SCRATCH_MASK;
	if (len < ETH_HLEN)
		return ST_C_RING_FAILED;
	if (st_ctx_load_bytes(ctx, hook, rec->data, len) < 0)
		return ST_C_RING_FAILED;

	rec->meta.ts_ns = bpf_ktime_get_ns();
	rec->meta.flow_hash = flow_hash;
	rec->meta.pkt_len = pkt_len;
	rec->meta.cap_len = len;
	rec->meta.ifindex = st_ctx_ifindex(ctx, hook);
	rec->meta.direction = st_hook_direction(hook);
	if (bpf_ringbuf_output(&st_ring, rec, sizeof(rec->meta) + len, 0) < 0)
		return ST_C_RING_FULL;
	return ST_C_RING_SENT;
}

/*
 * Whether this packet's connection is mirrored. A SYN decides (hash against the current rate) and
 * records the decision; every later packet, in both directions, follows the record, so a rate
 * change never splits a connection. No record (connection older than the tap, or evicted): decide
 * by hash, which agrees with the SYN's decision unless the rate changed since.
 */
static __always_inline int st_flow_mirrored(struct st_flow_key *key, __u32 hash, __u32 rate_ppm,
					    int syn)
{
	struct st_flow_decision decision = {.hash = hash}, *recorded;

	if (syn) {
		decision.mirrored = st_sampled(hash, rate_ppm);
		if (bpf_map_update_elem(&st_flows, key, &decision, BPF_ANY) == 0)
			st_count(ST_C_FLOW_DECIDED);
		else
			st_count(ST_C_FLOW_RECORD_FAILED);
		return decision.mirrored;
	}
	recorded = bpf_map_lookup_elem(&st_flows, key);
	if (recorded)
		return recorded->mirrored;
	st_count(ST_C_FLOW_STATELESS);
	return st_sampled(hash, rate_ppm);
}

static __always_inline int st_capture(void *ctx, enum st_hook hook)
{
	enum st_direction dir = st_hook_direction(hook);
	struct st_cursor cur = {
		.pos = st_ctx_data(ctx, hook),
		.end = st_ctx_data_end(ctx, hook),
	};
	struct st_packet pkt = {};
	struct st_runtime *rt;
	struct st_rule *rule;
	struct st_lpm_key client = {.prefixlen = 128};
	struct st_flow_key key;
	__u32 zero = 0, reason, hash, mark;
	__u16 service_port;
	int ret;

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

	ret = st_parse_packet(&cur, &pkt);
	if (ret < 0) {
		reason = -ret;
		goto out;
	}

	/* Requests arrive to the service port; responses leave from it. */
	service_port = dir == ST_DIR_INGRESS ? pkt.dport : pkt.sport;
	rule = bpf_map_lookup_elem(&st_rules, &service_port);
	if (!rule || !(rule->flags & ST_RULE_ENABLED)) {
		reason = ST_C_PORT_MISS;
		goto out;
	}

	/* The client is the source of a request and the destination of a response. */
	__builtin_memcpy(client.addr, dir == ST_DIR_INGRESS ? pkt.saddr : pkt.daddr, 16);
	if (bpf_map_lookup_elem(&st_excludes, &client)) {
		reason = ST_C_EXCLUDED;
		goto out;
	}

	st_flow_key_make(&key, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
	hash = st_flow_key_hash(&key, rt->seed);
	if (!st_flow_mirrored(&key, hash, rule->rate_ppm, pkt.syn)) {
		reason = ST_C_NOT_SAMPLED;
		goto out;
	}

	if (st_output == ST_OUTPUT_RING) {
		reason = st_ring_copy(ctx, hook, hash);
	} else if (!st_hook_is_xdp(hook)) {
		/* The clone leaves by the mirror interface's egress; the original goes on untouched. */
		ret = bpf_clone_redirect(ctx, rule->mirror_ifindex, 0);
		reason = ret == 0 ? ST_C_CLONED : ST_C_CLONE_FAILED;
	} else {
		reason = ST_C_RING_FAILED; /* XDP cannot clone: the agent always loads it in ring mode */
	}

out:
	st_count(ST_C_SEEN);
	st_count(reason);
	return st_ctx_pass(hook);
}

#endif
