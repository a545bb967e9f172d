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
};

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
	return ((struct __sk_buff *)ctx)->len;
}

static __always_inline long st_ctx_load_bytes(void *ctx, enum st_hook hook, void *to, __u32 len)
{
	if (st_hook_is_xdp(hook))
		return bpf_xdp_load_bytes((struct xdp_md *)ctx, 0, to, len);
	return bpf_skb_load_bytes(ctx, 0, to, len);
}

static __always_inline int st_ctx_pass(enum st_hook hook)
{
	return st_hook_is_xdp(hook) ? XDP_PASS_VERDICT : TC_ACT_OK;
}

#endif
