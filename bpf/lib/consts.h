/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Kernel-only: protocol constants that vmlinux.h (BTF types, no macros) does not carry. */
#ifndef SHADOWTAP_BPF_CONSTS_H
#define SHADOWTAP_BPF_CONSTS_H

/*
 * "Next": the packet goes on to the next program or filter on the hook. For cls_bpf in
 * direct-action mode TC_ACT_UNSPEC continues the filter chain (TC_ACT_OK would end it and skip
 * every later filter, a firewall's drop included); for tcx it is TCX_NEXT (same value, -1, in
 * enum tcx_action_base), which runs the rest of the tcx chain and then the clsact filters.
 */
#define TC_ACT_UNSPEC (-1)
#define XDP_PASS_VERDICT 2 /* enum xdp_action XDP_PASS; named apart to avoid clashing with vmlinux.h */

/* skb->ip_summed values (include/linux/skbuff.h macros: not in BTF). */
#define ST_CHECKSUM_UNNECESSARY 1
#define ST_CHECKSUM_PARTIAL 3

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_IPIP_ 4
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_IPV6_ 41
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_DSTOPTS_ 60

#define IP_OFFSET_MASK 0x1FFF /* fragment offset bits of iph->frag_off (host order) */
#define IP6_OFFSET_MASK 0xFFF8 /* fragment offset bits of frag_hdr->frag_off (host order) */

#endif
