/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: bounds-checked parsers in the style of xdp-tools' parsing_helpers.h, over offsets
 * rather than packet pointers so that a header outside the linear part (a non-linear skb, an XDP
 * fragment) is read like any other. Each helper copies its header out (st_ctx_header), checks it,
 * advances the cursor and returns the next protocol, or a negative st_counter reason saying why
 * the packet cannot be parsed further. Nothing here writes to the packet or changes its layout.
 */
#ifndef SHADOWTAP_BPF_PARSE_H
#define SHADOWTAP_BPF_PARSE_H

struct st_cursor {
	void *ctx;
	__u32 off; /* where the next header starts, from the Ethernet header */
	__u32 len; /* the whole frame (linear part + pages / fragments) */
};

/* What the parser learnt about one TCP packet. Addresses are 16-byte, IPv4 mapped (::ffff:a.b.c.d). */
struct st_packet {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u8 syn;  /* SYN without ACK: a connection's first packet */
};

/* Whether `len` more bytes from the cursor are in the frame. */
#define ST_FITS(cur, n) ((__u64)(cur)->off + (n) <= (cur)->len)

/* Ethernet plus up to ST_MAX_VLAN_DEPTH 802.1Q/802.1ad tags. Returns the ethertype (host order). */
static __always_inline int st_parse_eth(struct st_cursor *cur, enum st_hook hook)
{
	struct ethhdr eth;
	__u16 proto;

	if (st_ctx_header(cur->ctx, hook, cur->off, &eth, sizeof(eth)))
		return -ST_C_MALFORMED_L2;
	proto = bpf_ntohs(eth.h_proto);
	cur->off += sizeof(eth);

#pragma unroll
	for (int i = 0; i < ST_MAX_VLAN_DEPTH; i++) {
		struct vlan_hdr vlan;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (st_ctx_header(cur->ctx, hook, cur->off, &vlan, sizeof(vlan)))
			return -ST_C_MALFORMED_L2;
		proto = bpf_ntohs(vlan.h_vlan_encapsulated_proto);
		cur->off += sizeof(vlan);
	}
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD)
		return -ST_C_VLAN_TOO_DEEP;
	return proto;
}

/* IPv4 with options. Returns the L4 protocol; non-first fragments are reported, not parsed. */
static __always_inline int st_parse_ipv4(struct st_cursor *cur, enum st_hook hook, struct st_packet *pkt)
{
	struct iphdr iph;
	__u32 hdr_len;

	if (st_ctx_header(cur->ctx, hook, cur->off, &iph, sizeof(iph)))
		return -ST_C_MALFORMED_IPV4;
	if (iph.version != 4 || iph.ihl < 5)
		return -ST_C_MALFORMED_IPV4;
	hdr_len = iph.ihl * 4;
	if (!ST_FITS(cur, hdr_len)) /* the options must be there too */
		return -ST_C_MALFORMED_IPV4;
	if (bpf_ntohs(iph.frag_off) & IP_OFFSET_MASK)
		return -ST_C_FRAGMENT;

	pkt->saddr[0] = 0;
	pkt->saddr[1] = 0;
	pkt->saddr[2] = bpf_htonl(0xffff);
	pkt->saddr[3] = iph.saddr;
	pkt->daddr[0] = 0;
	pkt->daddr[1] = 0;
	pkt->daddr[2] = bpf_htonl(0xffff);
	pkt->daddr[3] = iph.daddr;
	cur->off += hdr_len;
	return iph.protocol;
}

static __always_inline int st_is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS_ || nexthdr == IPPROTO_ROUTING_ ||
	       nexthdr == IPPROTO_FRAGMENT_ || nexthdr == IPPROTO_AH_ || nexthdr == IPPROTO_DSTOPTS_;
}

/* IPv6 and a bounded walk over its extension headers. Returns the upper-layer protocol. */
static __always_inline int st_parse_ipv6(struct st_cursor *cur, enum st_hook hook, struct st_packet *pkt)
{
	struct ipv6hdr ip6;
	__u8 nexthdr;

	if (st_ctx_header(cur->ctx, hook, cur->off, &ip6, sizeof(ip6)))
		return -ST_C_MALFORMED_IPV6;
	if (ip6.version != 6)
		return -ST_C_MALFORMED_IPV6;
	__builtin_memcpy(pkt->saddr, &ip6.saddr, 16);
	__builtin_memcpy(pkt->daddr, &ip6.daddr, 16);
	nexthdr = ip6.nexthdr;
	cur->off += sizeof(ip6);

#pragma unroll
	for (int i = 0; i < ST_MAX_IPV6_EXT_HDRS; i++) {
		/* Every extension header is at least 8 bytes; its first two say what and how long. */
		struct {
			__u8 nexthdr;
			__u8 hdrlen;
			__be16 frag_off; /* fragment header only */
			__u32 rest;
		} opt;
		__u32 len;

		if (!st_is_ipv6_ext(nexthdr))
			return nexthdr;
		if (st_ctx_header(cur->ctx, hook, cur->off, &opt, sizeof(opt)))
			return -ST_C_MALFORMED_IPV6;
		if (nexthdr == IPPROTO_FRAGMENT_) {
			if (bpf_ntohs(opt.frag_off) & IP6_OFFSET_MASK)
				return -ST_C_FRAGMENT;
			len = 8;
		} else if (nexthdr == IPPROTO_AH_) {
			len = (opt.hdrlen + 2) * 4;
		} else {
			len = (opt.hdrlen + 1) * 8;
		}
		if (!ST_FITS(cur, len))
			return -ST_C_MALFORMED_IPV6;
		nexthdr = opt.nexthdr;
		cur->off += len;
	}
	if (st_is_ipv6_ext(nexthdr))
		return -ST_C_MALFORMED_IPV6; /* chain longer than we are willing to walk */
	return nexthdr;
}

static __always_inline int st_parse_tcp(struct st_cursor *cur, enum st_hook hook, struct st_packet *pkt)
{
	struct tcphdr tcp;

	if (st_ctx_header(cur->ctx, hook, cur->off, &tcp, sizeof(tcp)))
		return -ST_C_MALFORMED_TCP;
	if (tcp.doff < 5)
		return -ST_C_MALFORMED_TCP;
	/* The options must be there too: a data offset pointing past the packet is malformed. */
	if (!ST_FITS(cur, tcp.doff * 4))
		return -ST_C_MALFORMED_TCP;
	pkt->sport = bpf_ntohs(tcp.source);
	pkt->dport = bpf_ntohs(tcp.dest);
	pkt->syn = tcp.syn && !tcp.ack;
	return 0;
}

/* Parse L2..L4. Returns 0 for a well-formed TCP packet, else a negative st_counter reason. */
static __always_inline int st_parse_packet(struct st_cursor *cur, enum st_hook hook, struct st_packet *pkt)
{
	int proto = st_parse_eth(cur, hook);

	if (proto < 0)
		return proto;
	if (proto == ETH_P_IP)
		proto = st_parse_ipv4(cur, hook, pkt);
	else if (proto == ETH_P_IPV6)
		proto = st_parse_ipv6(cur, hook, pkt);
	else
		return -ST_C_NOT_IP;
	if (proto < 0)
		return proto;
	if (proto != IPPROTO_TCP_)
		return -ST_C_NOT_TCP;
	return st_parse_tcp(cur, hook, pkt);
}

#endif
