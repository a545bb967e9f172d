// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shadowtap data plane.
 *
 * Hooks: tc_ingress / tc_egress on the tapped NIC (tcx links at the head of the chain where the
 * kernel has tcx, else cls_bpf filters on clsact) and xdp_ingress (frags-aware, through libxdp's
 * dispatcher, so it coexists with other XDP programs); XDP mode pairs it with tc_egress_ring. All
 * four run one routine, st_capture().
 * Selection: TCP to (ingress) or from (egress) a service port in st_rules - on a veth, with
 * ST_RT_PORTS_EITHER_SIDE, on either side whatever the hook -, client not in the
 * st_excludes LPM trie, and the connection's direction-normalised hash under the rule's rate, so a
 * connection is mirrored whole - every packet, both directions - or not at all.
 * Output: TC mode clones to the mirror interface; XDP mode (no clone possible) copies the frame, up
 * to st_snaplen bytes and across fragments, with an st_pkt_meta header into st_ring.
 * Verdict: always "next" (TC_ACT_UNSPEC / TCX_NEXT, XDP_PASS). Nothing is dropped, delayed or
 * modified, and no later filter or program is skipped. Headers are read, never pulled.
 * Overload: a full ring or a failed clone costs only the mirror copy, counted by reason.
 * fanout_flow (a socket filter, TC mode) only picks the agent worker that reads a clone.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "shadowtap/shared.h"
#include "lib/consts.h"
#include "lib/maps.h"
#include "lib/ctx.h"
#include "lib/parse.h"
#include "lib/capture.h"

/* TC mode: clones. */
SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return st_capture(skb, ST_HOOK_TC_INGRESS, ST_OUTPUT_CLONE);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return st_capture(skb, ST_HOOK_TC_EGRESS, ST_OUTPUT_CLONE);
}

/* XDP mode: ring copies. XDP has no egress hook, so responses are copied at tc egress. */
SEC("xdp.frags")
int xdp_ingress(struct xdp_md *xdp)
{
	return st_capture(xdp, ST_HOOK_XDP_INGRESS, ST_OUTPUT_RING);
}

SEC("tc")
int tc_egress_ring(struct __sk_buff *skb)
{
	return st_capture(skb, ST_HOOK_TC_EGRESS, ST_OUTPUT_RING);
}

/* TC mode: how much of a clone the agent's capture socket copies (capture.h). */
SEC("socket")
int capture_snap(struct __sk_buff *skb)
{
	return st_capture_snap(skb);
}

/* TC mode with several workers: which worker's socket on the mirror reads a clone (capture.h). */
SEC("socket")
int fanout_flow(struct __sk_buff *skb)
{
	return st_fanout(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
