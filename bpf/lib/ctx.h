/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: the small shim that lets one capture routine serve both hooks (cf. cilium's
 * bpf/include/bpf/ctx/). `hook` is always a compile-time constant at the call site, so after
 * inlining each program keeps only its own branch and the verifier never sees the other one.
 */
#ifndef SHADOWTAP_BPF_CTX_H
#define SHADOWTAP_BPF_CTX_H

enum st_hook {
	ST_HOOK_TC_INGRESS,
	ST_HOOK_TC_EGRESS,
	ST_HOOK_XDP_INGRESS,
	/* The capture fan-out's socket filter: no direct packet access (headers through
	 * bpf_skb_load_bytes only), counts nothing; skb->data at the network header. */
	ST_HOOK_SOCKET,
	/* The capture socket's own filter (SO_ATTACH_BPF on a raw packet socket): as above, but the
	 * packet socket pushed skb->data back to the MAC header before running it. Read relative to
	 * the MAC header (the linear part only: a frame whose headers are not there is not parsed,
	 * and the filter keeps it whole), so it reads the same under BPF_PROG_TEST_RUN, which leaves
	 * skb->data at the network header. */
	ST_HOOK_SOCKET_AT_MAC,
};

/* The socket filters: no direct packet access, and nothing counted. */
static __always_inline int st_hook_is_socket(enum st_hook hook)
{
	return hook == ST_HOOK_SOCKET || hook == ST_HOOK_SOCKET_AT_MAC;
}

/* Headers further than this into the linear part are read through the load helper only (a bound
 * the verifier needs for the direct path's variable packet offset). */
#define ST_MAX_DIRECT_OFF 1024

static __always_inline int st_hook_is_xdp(enum st_hook hook)
{
	return hook == ST_HOOK_XDP_INGRESS;
}

static __always_inline enum st_direction st_hook_direction(enum st_hook hook)
{
	return hook == ST_HOOK_TC_EGRESS ? ST_DIR_EGRESS : ST_DIR_INGRESS;
}

static __always_inline void *st_ctx_data(void *ctx, enum st_hook hook)
{
	if (st_hook_is_xdp(hook))
		return (void *)(long)((struct xdp_md *)ctx)->data;
	return (void *)(long)((struct __sk_buff *)ctx)->data;
}

static __always_inline void *st_ctx_data_end(void *ctx, enum st_hook hook)
{
	if (st_hook_is_xdp(hook))
		return (void *)(long)((struct xdp_md *)ctx)->data_end;
	return (void *)(long)((struct __sk_buff *)ctx)->data_end;
}

/* XDP frames have no mark: they come from the wire, never from the agent's sockets. */
static __always_inline __u32 st_ctx_mark(void *ctx, enum st_hook hook)
{
	if (st_hook_is_xdp(hook))
		return 0;
	return ((struct __sk_buff *)ctx)->mark;
}

static __always_inline __u32 st_ctx_ifindex(void *ctx, enum st_hook hook)
{
	if (st_hook_is_xdp(hook))
		return ((struct xdp_md *)ctx)->ingress_ifindex;
	return ((struct __sk_buff *)ctx)->ifindex;
}

/* Whole frame length, including paged (non-linear) data and XDP fragments. */
static __always_inline __u32 st_ctx_len(void *ctx, enum st_hook hook)
{
	if (st_hook_is_xdp(hook))
		return bpf_xdp_get_buff_len((struct xdp_md *)ctx);
	if (hook == ST_HOOK_SOCKET) /* skb->len counts from the network header: see st_ctx_load_bytes */
		return ((struct __sk_buff *)ctx)->len + ETH_HLEN;
	return ((struct __sk_buff *)ctx)->len;
}

/* Copies `len` bytes at `off` of the whole frame (linear part, skb pages, XDP fragments) to `to`.
 * Reads only: neither helper changes the packet or its layout. */
static __always_inline long st_ctx_load_bytes(void *ctx, enum st_hook hook, __u32 off, void *to, __u32 len)
{
	if (st_hook_is_xdp(hook))
		return bpf_xdp_load_bytes((struct xdp_md *)ctx, off, to, len);
	if (hook == ST_HOOK_SOCKET_AT_MAC)
		return bpf_skb_load_bytes_relative(ctx, off, to, len, BPF_HDR_START_MAC);
	if (hook == ST_HOOK_SOCKET) {
		/* Frames the mirror's read end received: skb->data is at the network header, ETH_HLEN
		 * past the MAC header (packet sockets see a frame after eth_type_trans, and after an
		 * in-band VLAN tag was moved out to vlan_tci). Offsets here count from the MAC header:
		 * the Ethernet header is read relative to it, the rest through the usual helper, which
		 * also reads skb pages. */
		if (off < ETH_HLEN)
			return bpf_skb_load_bytes_relative(ctx, off, to, len, BPF_HDR_START_MAC);
		return bpf_skb_load_bytes(ctx, off - ETH_HLEN, to, len);
	}
	return bpf_skb_load_bytes(ctx, off, to, len);
}

/*
 * One header at `off` into `to` (`len` a constant). Headers normally sit in the linear part and
 * are copied straight from it; a header beyond it (an skb whose linear part ends early, a header
 * in an XDP fragment) is read through the load helper. Never bpf_skb_pull_data: pulling would
 * change the skb every later program and filter sees.
 */
static __always_inline int st_ctx_header(void *ctx, enum st_hook hook, __u32 off, void *to, __u32 len)
{
	if (!st_hook_is_socket(hook)) {
		void *data = st_ctx_data(ctx, hook);
		void *end = st_ctx_data_end(ctx, hook);

		if (off <= ST_MAX_DIRECT_OFF && data + off + len <= end) {
			__builtin_memcpy(to, data + off, len);
			return 0;
		}
	}
	return st_ctx_load_bytes(ctx, hook, off, to, len) < 0 ? -1 : 0;
}

/* Next, never an end of the chain: see TC_ACT_UNSPEC in consts.h. */
static __always_inline int st_ctx_pass(enum st_hook hook)
{
	return st_hook_is_xdp(hook) ? XDP_PASS_VERDICT : TC_ACT_UNSPEC;
}

/*
 * Whether the kernel vouches for the TCP checksum of this skb (enum st_pkt_flags). XDP has no
 * checksum state: unknown. Only the ring-output tc program calls this; it needs the kfunc
 * bpf_cast_to_kern_ctx (Linux 6.3), which the clone programs do without.
 */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

static __always_inline int st_ctx_csum_trusted(void *ctx, enum st_hook hook)
{
	struct sk_buff *kskb;
	__u8 ip_summed;

	if (st_hook_is_xdp(hook))
		return 0;
	kskb = bpf_cast_to_kern_ctx(ctx);
	ip_summed = BPF_CORE_READ_BITFIELD(kskb, ip_summed);
	return ip_summed == ST_CHECKSUM_UNNECESSARY || ip_summed == ST_CHECKSUM_PARTIAL;
}

#endif
