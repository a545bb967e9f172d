/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-only: the maps of the shadowtap programs. Key/value types come from shadowtap/shared.h.
 * The agent pins every map under /sys/fs/bpf/shadowtap/<iface>/ so `set`, `status` and `detach`
 * reach a running (or killed) agent's state.
 */
#ifndef SHADOWTAP_BPF_MAPS_H
#define SHADOWTAP_BPF_MAPS_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_RULES);
	__type(key, __u16); /* service port, host byte order */
	__type(value, struct st_rule);
} st_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ST_MAX_EXCLUDES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__type(key, struct st_lpm_key);
	__type(value, __u8);
} st_excludes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_runtime);
} st_runtime SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} st_counters SEC(".maps");

/* Sticky per-connection decisions: see st_flow_decision in shared.h. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_FLOWS);
	__type(key, struct st_flow_key);
	__type(value, struct st_flow_decision);
} st_flows SEC(".maps");

/* The capture ring guard, one entry per worker (shared.h: st_ring_guard); mmapped by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ST_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct st_ring_guard);
} st_ring_guards SEC(".maps");

/* Written by the agent only; the programs never read it. Lives here so it is pinned with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_state);
} st_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ST_RING_BYTES);
} st_ring SEC(".maps");

/* Per-CPU staging buffer for small ring records (capture.h: st_ring_staged). */
struct st_ring_stage {
	struct st_pkt_meta meta;
	__u8 data[512]; /* ST_RING_STAGED */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_ring_stage);
} st_stage SEC(".maps");

static __always_inline void st_count(__u32 reason)
{
	__u64 *value = bpf_map_lookup_elem(&st_counters, &reason);

	if (value)
		*value += 1; /* per-CPU slot: no atomics needed */
}

#endif
