// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shadowtap data plane.
 *
 * Hooks: tc_ingress / tc_egress (clsact on the tapped NIC) and xdp_ingress (through libxdp's
 * dispatcher, so it coexists with other XDP programs). All three run one routine, st_capture().
 * Selection: TCP to (ingress) or from (egress) a service port in st_rules, client not in the
 * st_excludes LPM trie, and the connection's direction-normalised hash under the rule's rate, so a
 * connection is mirrored whole - every packet, both directions - or not at all.
 * Output: TC mode clones to the mirror interface; XDP mode (no clone possible) copies up to
 * st_snaplen bytes with an st_pkt_meta header into st_ring.
 * Verdict: always pass. Nothing is dropped, delayed or modified.
 * Overload: a full ring or a failed clone costs only the mirror copy, counted by reason.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "shadowtap/shared.h"
#include "lib/consts.h"
#include "lib/maps.h"
#include "lib/ctx.h"
#include "lib/parse.h"
#include "lib/capture.h"

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return st_capture(skb, ST_HOOK_TC_INGRESS);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return st_capture(skb, ST_HOOK_TC_EGRESS);
}

SEC("xdp")
int xdp_ingress(struct xdp_md *xdp)
{
	return st_capture(xdp, ST_HOOK_XDP_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
