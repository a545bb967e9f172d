/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: bounds-checked parsers in the style of xdp-tools' parsing_helpers.h, over offsets
 * rather than packet pointers so that a header outside the linear part (a non-linear skb, an XDP
 * fragment) is read like any other. Each helper copies its header out (st_ctx_header), checks it,
 * advances the cursor and returns the next protocol, or a negative st_counter reason saying why
 * the packet cannot be parsed further. Nothing here writes to the packet or changes its layout.
 * One level of VXLAN, Geneve, IPIP or IPv6-in-IP is opened (st_parse_encap): the inner headers
 * are what is matched, and each opened tunnel counts an ST_C_DECAP_* event.
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
	__u32 payload_off; /* where the TCP payload starts: every header (tunnels too) before it */
};

/* An event of the parse itself (an opened tunnel); the fan-out's socket filter counts nothing. */
static __always_inline void st_parse_event(enum st_hook hook, __u32 event)
{
	if (!st_hook_is_socket(hook))
		st_count(event);
}

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
	pkt->payload_off = cur->off + tcp.doff * 4;
	return 0;
}

static __always_inline int st_parse_l3(struct st_cursor *cur, enum st_hook hook, int ethertype,
				       struct st_packet *pkt)
{
	if (ethertype == ETH_P_IP)
		return st_parse_ipv4(cur, hook, pkt);
	if (ethertype == ETH_P_IPV6)
		return st_parse_ipv6(cur, hook, pkt);
	return -ST_C_NOT_IP;
}

/* The 8 bytes VXLAN and Geneve headers start with (RFC 7348, RFC 8926); Geneve options follow. */
struct st_tunnel_hdr {
	__u8 b0;      /* VXLAN: flags (I = ST_VXLAN_FLAG_I). Geneve: version (2 bits), opt_len (6 bits, 4-byte words) */
	__u8 b1;
	__be16 proto; /* Geneve: protocol type of the payload */
	__u32 vni;
};

/*
 * A UDP datagram (the cursor at its header) to a VXLAN or Geneve port: skips the UDP and tunnel
 * headers (Geneve options included) and the inner Ethernet header, and returns the inner ethertype.
 * Anything else, or a tunnel header absent or invalid, is plain UDP: -ST_C_NOT_TCP.
 */
static __always_inline int st_parse_udp_tunnel(struct st_cursor *cur, enum st_hook hook)
{
	struct udphdr udp;
	struct st_tunnel_hdr tun;
	__u32 off = cur->off;
	__u16 dport;
	int proto;

	if (st_ctx_header(cur->ctx, hook, off, &udp, sizeof(udp)))
		return -ST_C_NOT_TCP;
	dport = bpf_ntohs(udp.dest);
	if (dport != ST_PORT_VXLAN && dport != ST_PORT_VXLAN_LINUX && dport != ST_PORT_GENEVE)
		return -ST_C_NOT_TCP;
	off += sizeof(udp);
	if (st_ctx_header(cur->ctx, hook, off, &tun, sizeof(tun)))
		return -ST_C_NOT_TCP;
	off += sizeof(tun);

	if (dport == ST_PORT_GENEVE) {
		if (tun.b0 >> 6) /* only version 0 is defined */
			return -ST_C_NOT_TCP;
		proto = bpf_ntohs(tun.proto);
		if (proto != ST_ETH_P_TEB && proto != ETH_P_IP && proto != ETH_P_IPV6)
			return -ST_C_NOT_TCP;
		off += (tun.b0 & 0x3f) * 4; /* at most 252 bytes of options */
		cur->off = off;
		st_parse_event(hook, ST_C_DECAP_GENEVE);
		if (proto != ST_ETH_P_TEB)
			return proto; /* IP straight after the Geneve header, no inner Ethernet */
		return st_parse_eth(cur, hook);
	}
	if (!(tun.b0 & ST_VXLAN_FLAG_I))
		return -ST_C_NOT_TCP;
	cur->off = off;
	st_parse_event(hook, ST_C_DECAP_VXLAN);
	return st_parse_eth(cur, hook);
}

/*
 * Opens one level of encapsulation after an outer IP header whose protocol is `l4`. Returns 0 when
 * `l4` is not a tunnel; 1 when it was one, with the inner ethertype in *inner and the cursor at
 * the inner IP header; or a negative reason.
 */
static __always_inline int st_parse_encap(struct st_cursor *cur, enum st_hook hook, int l4, int *inner)
{
	if (l4 == IPPROTO_IPIP_) {
		st_parse_event(hook, ST_C_DECAP_IPIP);
		*inner = ETH_P_IP;
		return 1;
	}
	if (l4 == IPPROTO_IPV6_) {
		st_parse_event(hook, ST_C_DECAP_IP6IP6);
		*inner = ETH_P_IPV6;
		return 1;
	}
	if (l4 == IPPROTO_UDP_) {
		*inner = st_parse_udp_tunnel(cur, hook);
		return *inner < 0 ? *inner : 1;
	}
	return 0;
}

/*
 * Parse L2..L4, through at most one tunnel: the st_packet then holds the inner addresses and
 * ports. Returns 0 for a well-formed TCP packet, else a negative st_counter reason.
 */
static __always_inline int st_parse_packet(struct st_cursor *cur, enum st_hook hook, struct st_packet *pkt)
{
	int proto = st_parse_eth(cur, hook), inner = 0, ret;

	if (proto < 0)
		return proto;
	proto = st_parse_l3(cur, hook, proto, pkt);
	if (proto < 0)
		return proto;
	ret = st_parse_encap(cur, hook, proto, &inner);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		proto = st_parse_l3(cur, hook, inner, pkt);
		if (proto < 0)
			return proto;
	}
	if (proto != IPPROTO_TCP_)
		return -ST_C_NOT_TCP;
	return st_parse_tcp(cur, hook, pkt);
}

#endif
