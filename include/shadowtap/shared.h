/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shadowtap ABI: the one header shared by the BPF programs (bpf/) and the agent (agent/).
 *
 * Every struct that crosses the kernel/user boundary, every enum, limit and map name lives here, so the
 * two sides cannot drift. Fixed-width types only, explicit padding, and static_asserts at the end.
 * The flow hash is here too: user space and tests recompute exactly the kernel's sampling decision.
 */
#ifndef SHADOWTAP_SHARED_H
#define SHADOWTAP_SHARED_H

#ifdef __BPF__
/* vmlinux.h (included first by the BPF side) already defines __u8.. __u64. */
#else
#include <linux/types.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* ---- limits ---------------------------------------------------------------------------------- */
#define ST_MAX_RULES 64            /* service ports watched at once */
#define ST_MAX_EXCLUDES 4096       /* client CIDRs that are never mirrored */
#define ST_RATE_SCALE 1000000u     /* sampling rates are in parts per million */
/*
 * Ring copies (XDP mode): a whole frame up to ST_MAX_SNAPLEN, enough for a 64 KiB GSO/GRO
 * super-packet (an IP length of 65535) behind Ethernet, two VLAN tags and an IPv6 header. Larger
 * frames (BIG TCP) and copies cut by a smaller --snaplen are flagged ST_PKT_TRUNCATED.
 */
#define ST_MAX_SNAPLEN ((64u << 10) + 128u)
#define ST_DEFAULT_SNAPLEN ST_MAX_SNAPLEN
#define ST_RING_BYTES (8u << 20)   /* ring buffer size, a power of two and a page multiple */
#define ST_MAX_VLAN_DEPTH 2        /* 802.1Q / 802.1ad tags parsed */
#define ST_MAX_IPV6_EXT_HDRS 6     /* bounded IPv6 extension-header walk */
#define ST_DEFAULT_MARK 0x5354u    /* "ST": SO_MARK of the agent's own sockets, never mirrored */

/*
 * Overlays: one level of encapsulation is removed and the inner headers are matched, sampled,
 * excluded and hashed, so a connection keeps one decision whichever tunnel carries it. UDP
 * tunnels are recognised by destination port (the source port is the sender's flow entropy);
 * a UDP packet to such a port whose tunnel header is absent or invalid is just UDP (not_tcp).
 * A tunnel inside the tunnel is not opened (the inner packet is then not TCP).
 */
#define ST_PORT_VXLAN 4789        /* IANA VXLAN */
#define ST_PORT_VXLAN_LINUX 8472  /* Linux's pre-IANA default, Flannel's VXLAN backend */
#define ST_PORT_GENEVE 6081
#define ST_VXLAN_FLAG_I 0x08      /* first byte of the VXLAN header: the VNI is valid */
#define ST_ETH_P_TEB 0x6558       /* Geneve protocol type: an Ethernet frame follows */

/* TC filter identity (clsact mode): fixed so a later `shadowtap detach` finds exactly what `run`
 * attached. In tcx mode the programs are found by name (ST_PROG_*) among the interface's tcx programs. */
#define ST_TC_HANDLE 0x5354u
#define ST_TC_PRIORITY 0x5354u
#define ST_PROG_TC_INGRESS "tc_ingress"
#define ST_PROG_TC_EGRESS "tc_egress"
#define ST_PROG_TC_EGRESS_RING "tc_egress_ring"
#define ST_PROG_XDP_INGRESS "xdp_ingress"

/* ---- map names (pinned under /sys/fs/bpf/shadowtap/<iface>/<name>) ----------------------------- */
#define ST_MAP_RULES "st_rules"
#define ST_MAP_EXCLUDES "st_excludes"
#define ST_MAP_RUNTIME "st_runtime"
#define ST_MAP_COUNTERS "st_counters"
#define ST_MAP_RING "st_ring"
#define ST_MAP_FLOWS "st_flows"
#define ST_MAP_STATE "st_state"
#define ST_PIN_ROOT "/sys/fs/bpf/shadowtap"

/* ---- rules: service port (host byte order, __u16 key) -> rule ---------------------------------- */
enum st_rule_flags {
	ST_RULE_ENABLED = 1u << 0,
};

struct st_rule {
	__u32 rate_ppm;       /* 0..ST_RATE_SCALE: share of connections mirrored */
	__u32 mirror_ifindex; /* where TC mode clones go */
	__u32 flags;          /* enum st_rule_flags */
	__u32 _pad;
};

/* ---- excluded client CIDRs: one LPM trie for both families ----------------------------------- */
/* IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), so an IPv4 /24 has prefixlen 96 + 24. */
struct st_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* ---- runtime config: array map with one entry, changed live by `shadowtap set` ---------------- */
enum st_runtime_flags {
	/*
	 * Which side of a packet the service port is on. Without this flag the hook says it: requests
	 * arrive (ingress: destination port), responses leave (egress: source port), as on a server's
	 * NIC. With it, the hook's side is tried first and then the other: on the host side of a
	 * pod's veth, requests to the pod leave by egress and its responses arrive by ingress.
	 */
	ST_RT_PORTS_EITHER_SIDE = 1u << 0,
	/*
	 * Read by the capture socket's filter (capture_snap, on the agent's shared maps): responses
	 * (from a service port, not to one) are captured up to the end of their TCP header. Set when
	 * nothing needs response bytes (no HTTP service): their sequence, ACK and flags still count.
	 */
	ST_RT_RESPONSE_HEADERS_ONLY = 1u << 1,
};

struct st_runtime {
	__u32 seed;      /* flow-hash seed: sampling decisions are stable for one seed */
	__u32 skip_mark; /* packets with this skb->mark are the agent's own: never mirrored */
	__u32 enabled;   /* 0: every packet passes uncounted except ST_C_SEEN/ST_C_DISABLED */
	__u32 admit_paused; /* nonzero: the agent is behind; a new connection's SYN is recorded as not
			     * mirrored (ST_C_SHED_OVERLOAD): whole connections shed, never holes */
	/*
	 * Budgets ("production always wins", --max-new-conns, --max-mirror-rate), at connection
	 * granularity: within each one-second window at most max_new_conns connections are admitted,
	 * and once max_mirror_bytes have been mirrored no new one is (connections already admitted
	 * keep going, whole). A new connection over budget is refused at its SYN like an overload
	 * shed, counted ST_C_SHED_BUDGET. 0: no budget.
	 */
	__u32 max_new_conns;
	__u32 flags; /* enum st_runtime_flags */
	__u64 max_mirror_bytes;
	/* The current window, kept by the programs (racy across CPUs by design: at most one
	 * connection per CPU over the budget). The agent zeroes it when it sets new budgets. */
	__u64 window_start_ns;
	__u64 window_conns;
	__u64 window_bytes;
};

/* ---- agent state: array map with one entry; lets `detach` undo what a killed agent did ------- */
enum st_mode {
	ST_MODE_TC = 0,
	ST_MODE_XDP = 1,
};

enum st_state_flags {
	ST_STATE_CREATED_CLSACT = 1u << 0, /* the agent created the clsact qdisc: remove it on detach */
	ST_STATE_CREATED_VETH = 1u << 1,   /* the agent created the mirror veth pair: delete it */
	ST_STATE_XDP_ATTACHED = 1u << 2,
	ST_STATE_TC_INGRESS = 1u << 3,
	ST_STATE_TC_EGRESS = 1u << 4,
	/* The tc programs are tcx links (Linux 6.6+), not cls_bpf filters. The links are not pinned:
	 * they end with the agent's process, so a dead agent leaves no program running. */
	ST_STATE_TCX = 1u << 5,
};

struct st_state {
	__u32 mode;          /* enum st_mode */
	__u32 flags;         /* enum st_state_flags */
	__u32 ifindex;       /* the tapped interface */
	__u32 mirror_ifindex;
	__u32 agent_pid;
	__u32 _pad;
	char mirror_iface[16]; /* IFNAMSIZ: where clones go (the tx end of the pair, or --mirror-iface) */
	char mirror_peer[16];  /* the pair's other end, read by the agent; "" with --mirror-iface */
};

/* ---- per-CPU counters, indexed by reason ------------------------------------------------------ */
/*
 * Every packet a program sees increments ST_C_SEEN and exactly one terminal reason, so
 * seen == sum(terminal reasons) per program run: a packet can never be counted twice or lost.
 * The terminal reasons are ST_C_DISABLED..ST_C_RING_FAILED; the events after them are extra.
 * Keep ST_COUNTER_NAMES (agent/bpf/counter_names.cpp) in the same order.
 */
enum st_counter {
	ST_C_SEEN = 0,
	/* terminal reasons */
	ST_C_DISABLED,        /* runtime enabled == 0 */
	ST_C_MARKED,          /* the agent's own traffic (skip mark) */
	ST_C_NOT_IP,          /* neither IPv4 nor IPv6 (ARP, LLDP...) */
	ST_C_VLAN_TOO_DEEP,   /* more than ST_MAX_VLAN_DEPTH tags */
	ST_C_NOT_TCP,         /* IP but not TCP (UDP, ICMP, ESP, no-next-header...) */
	ST_C_FRAGMENT,        /* non-first IP fragment: no TCP header to match */
	ST_C_MALFORMED_L2,    /* truncated Ethernet or VLAN header */
	ST_C_MALFORMED_IPV4,  /* truncated, bad version or IHL < 5 */
	ST_C_MALFORMED_IPV6,  /* truncated header or extension header, or chain too long */
	ST_C_MALFORMED_TCP,   /* truncated or data offset < 5 */
	ST_C_PORT_MISS,       /* TCP, but not to/from a watched service port */
	ST_C_EXCLUDED,        /* client address in an excluded CIDR */
	ST_C_NOT_SAMPLED,     /* connection hash above the sampling rate */
	ST_C_CLONED,          /* TC mode: clone redirected to the mirror interface */
	ST_C_CLONE_FAILED,    /* bpf_clone_redirect failed (mirror down or gone) */
	ST_C_RING_SENT,       /* XDP mode: frame copied into the ring buffer */
	ST_C_RING_FULL,       /* ring buffer full: frame not mirrored (original still passes) */
	ST_C_RING_FAILED,     /* could not copy the frame bytes */
	/* events, counted in addition to the terminal reason */
	ST_C_FLOW_DECIDED,    /* a SYN recorded its connection's decision in st_flows */
	ST_C_FLOW_STATELESS,  /* a matched packet with no recorded decision: decided by hash */
	ST_C_FLOW_RECORD_FAILED, /* st_flows update failed: the packet still gets the hash decision */
	ST_C_RING_TRUNCATED,  /* a ring copy shorter than its frame (snaplen, or beyond ST_MAX_SNAPLEN) */
	ST_C_SHED_OVERLOAD,   /* a sampled SYN not admitted: the agent had paused admission (overload) */
	/* One level of encapsulation was removed and the inner headers matched (counted whatever the
	 * terminal reason of the inner packet). Outer IPv4 or IPv6 in every case. */
	ST_C_DECAP_VXLAN,     /* VXLAN: UDP to ST_PORT_VXLAN or ST_PORT_VXLAN_LINUX, I flag set */
	ST_C_DECAP_GENEVE,    /* Geneve: UDP to ST_PORT_GENEVE, version 0, options skipped */
	ST_C_DECAP_IPIP,      /* IP protocol 4: IPv4 inside (IPIP, 4in6) */
	ST_C_DECAP_IP6IP6,    /* IP protocol 41: IPv6 inside (ip6ip6, 6in4/SIT) */
	/* A SYN sampled in and admitted: its connection is mirrored (a retransmitted SYN counts again).
	 * The first stage of the wire-to-shadow ledger (`shadowtap status`): every admitted
	 * connection is followed by the agent, or lost in capture (counted in frames), and so on. */
	ST_C_FLOW_ADMITTED,
	/* A packet of a connection the agent shed in flight (overload: st_flows says ST_FLOW_SHED):
	 * not mirrored (terminal reason not_sampled), so the agent's backlog stops growing. */
	ST_C_SHED_INFLIGHT,
	/* A sampled SYN not admitted: this second's --max-new-conns or --max-mirror-rate budget is
	 * spent (terminal reason not_sampled; the connection is skipped whole). */
	ST_C_SHED_BUDGET,
	/* A packet of a connection another interface of this agent mirrors (st_flow_decision.ifindex:
	 * the connection crosses both, e.g. pod to pod on one node): not mirrored twice (terminal
	 * reason not_sampled). */
	ST_C_OTHER_IFACE,
	/* A connection the capture ring guard gave up at its SYN (TC mode, st_ring_guard): its
	 * worker's ring was filling past the guard's limit while the worker could not read it
	 * (stopped, throttled), so the agent never sees it. Counted by the capture socket's filter;
	 * the kernel stops mirroring it (st_flows: ST_FLOW_SHED, counter shed_inflight). One given up
	 * later is ended by the agent and counted there (flows shed_inflight). */
	ST_C_RING_GUARD,
	ST_C_MAX,
};

/* ---- output: fixed per program (tc_ingress/tc_egress clone; xdp_ingress/tc_egress_ring copy) --- */
enum st_output {
	ST_OUTPUT_CLONE = 0, /* TC mode: bpf_clone_redirect to the rule's mirror ifindex */
	ST_OUTPUT_RING = 1,  /* XDP mode: copy into the ring buffer (XDP cannot clone) */
};

/* ---- ring buffer records (XDP mode, and TC egress in XDP mode) -------------------------------- */
enum st_direction {
	ST_DIR_INGRESS = 0, /* client -> service (requests) */
	ST_DIR_EGRESS = 1,  /* service -> client (responses) */
};

enum st_pkt_flags {
	/* cap_len < pkt_len: the copy was cut (--snaplen, or a frame beyond ST_MAX_SNAPLEN). */
	ST_PKT_TRUNCATED = 1u << 0,
	/* The kernel vouches for the TCP checksum: the skb is CHECKSUM_UNNECESSARY (verified) or
	 * CHECKSUM_PARTIAL (built here, the checksum is filled in on transmit). Unset: unknown (XDP
	 * sees no checksum state), the reader must verify it. */
	ST_PKT_CSUM_TRUSTED = 1u << 1,
};

struct st_pkt_meta {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 flow_hash;  /* st_flow_hash() of the connection */
	__u32 pkt_len;    /* length of the frame on the wire (from L2) */
	__u32 cap_len;    /* bytes of the frame that follow this header: min(pkt_len, snaplen) */
	__u32 ifindex;
	__u8 direction;   /* enum st_direction */
	__u8 flags;       /* enum st_pkt_flags */
	__u8 _pad[6];
	/* followed by cap_len bytes of the frame, starting at the Ethernet header (and, since records
	 * are reserved by size class, up to the class's size of unused bytes) */
};

/* ---- the connection key and hash ------------------------------------------------------------ */
/*
 * A connection is identified by its two endpoints, ordered so that both directions of the
 * connection give the same key ("direction-normalised"): the endpoint whose (address, port) is
 * smaller comes first. Addresses are 16 bytes (IPv4 mapped, network byte order words as they sit
 * in the packet), ports in host byte order. The same key indexes the kernel's st_flows decisions
 * and the agent's flow table.
 * The hash is a seeded murmur3-style mix of 32-bit words: cheap, branch-free, verifier-friendly,
 * and the same C code runs in the kernel, the agent and the tests.
 */
struct st_flow_key {
	__u32 addr_lo[4];
	__u32 addr_hi[4];
	__u16 port_lo;
	__u16 port_hi;
};

static __always_inline __u32 st_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 st_mix_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = st_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = st_rotl32(h, 13);
	return h * 5u + 0xe6546b64u;
}

static __always_inline __u32 st_fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* 1 if endpoint (a, pa) sorts after (b, pb). Addresses compared word by word as raw values. */
static __always_inline int st_endpoint_after(const __u32 *a, __u16 pa, const __u32 *b, __u16 pb)
{
	if (a[0] != b[0])
		return a[0] > b[0];
	if (a[1] != b[1])
		return a[1] > b[1];
	if (a[2] != b[2])
		return a[2] > b[2];
	if (a[3] != b[3])
		return a[3] > b[3];
	return pa > pb;
}

/* Key of the connection a packet (src:sport -> dst:dport, either direction) belongs to. */
static __always_inline void st_flow_key_make(struct st_flow_key *key, const __u32 *src, __u16 sport,
					     const __u32 *dst, __u16 dport)
{
	int swap = st_endpoint_after(src, sport, dst, dport);
	const __u32 *lo = swap ? dst : src;
	const __u32 *hi = swap ? src : dst;

	key->addr_lo[0] = lo[0];
	key->addr_lo[1] = lo[1];
	key->addr_lo[2] = lo[2];
	key->addr_lo[3] = lo[3];
	key->addr_hi[0] = hi[0];
	key->addr_hi[1] = hi[1];
	key->addr_hi[2] = hi[2];
	key->addr_hi[3] = hi[3];
	key->port_lo = swap ? dport : sport;
	key->port_hi = swap ? sport : dport;
}

static __always_inline __u32 st_flow_key_hash(const struct st_flow_key *key, __u32 seed)
{
	__u32 h = seed;

	h = st_mix_word(h, key->addr_lo[0]);
	h = st_mix_word(h, key->addr_lo[1]);
	h = st_mix_word(h, key->addr_lo[2]);
	h = st_mix_word(h, key->addr_lo[3]);
	h = st_mix_word(h, key->addr_hi[0]);
	h = st_mix_word(h, key->addr_hi[1]);
	h = st_mix_word(h, key->addr_hi[2]);
	h = st_mix_word(h, key->addr_hi[3]);
	h = st_mix_word(h, ((__u32)key->port_lo << 16) | key->port_hi);
	h = st_mix_word(h, 6u /* IPPROTO_TCP */);
	return st_fmix32(h ^ 40u /* bytes mixed */);
}

/*
 * Hash of a connection given one packet's endpoints (src, dst in any direction).
 * st_flow_hash(s, sp, d, dp) == st_flow_hash(d, dp, s, sp) for every input.
 */
static __always_inline __u32 st_flow_hash(const __u32 *src, __u16 sport, const __u32 *dst,
					  __u16 dport, __u32 seed)
{
	struct st_flow_key key;

	st_flow_key_make(&key, src, sport, dst, dport);
	return st_flow_key_hash(&key, seed);
}

/* ---- sticky per-connection decisions (LRU hash st_flows: st_flow_key -> st_flow_decision) ------ */
/*
 * The decision is taken on the connection's SYN (by hash and the rate in force then) and
 * remembered, so `shadowtap set --percent` changes only new connections and never cuts or joins a
 * connection half-way. A packet whose connection has no remembered decision (opened before the
 * tap, or evicted from the LRU) is decided by hash against the current rate: the same answer
 * unless the rate changed in between.
 */
#define ST_MAX_FLOWS 262144
enum st_flow_mirrored {
	ST_FLOW_SKIPPED = 0,  /* not sampled, or refused at its SYN (shed_overload) */
	ST_FLOW_MIRRORED = 1, /* mirror every packet of this connection */
	/* Written by the agent: it fell behind and gave this connection up in flight, whole (its
	 * replay is reset). Its later packets are not mirrored, so they cannot deepen the backlog. */
	ST_FLOW_SHED = 2,
};

struct st_flow_decision {
	__u32 mirrored; /* enum st_flow_mirrored */
	__u32 hash;
	/* The tapped interface that decided it (its SYN's first hook): an agent tapping several (pod
	 * veths) sees a connection between two of its pods on both; only this one mirrors it, the
	 * other counts ST_C_OTHER_IFACE. 0: any. */
	__u32 ifindex;
};

/* The capture fan-out (TC mode, several workers) hashes the same key with the seed ^ this salt: the
 * worker a connection is read by is independent of its sampling decision. */
#define ST_FANOUT_SALT 0x9e3779b9u

/* ---- capture ring guard (TC mode): one entry per worker --------------------------------------- */
/*
 * The agent sheds connections in flight when its ring keeps filling (runtime/inflight_shedder.h),
 * but only while it runs: an agent stopped or throttled (a CPU quota's debt, a SIGSTOP, a long
 * deschedule) for longer than its ring takes to fill would lose frames of every connection. The
 * capture socket's filter (capture_snap) runs for every frame before it enters a worker's ring and
 * keeps an estimate of how far into the ring the kernel has written (`admitted`, bytes, blocks at
 * multiples of block_bytes): a frame's cost, and the rest of a block whenever a block is handed
 * over, full or by its retire timeout (a frame in a new block_ns period: at low rates blocks go
 * with a few frames each). The worker publishes how far it has read (`read`: blocks handed back x
 * block_bytes), and re-levels it when it finds its ring empty. Once `admitted - read` is past
 * `limit`, the filter gives the frame's connection up whole (st_flows: ST_FLOW_SHED; `shed`) and
 * drops its frames from then on; one given up at its SYN, never seen by the agent, is counted
 * ST_C_RING_GUARD. When `shed` grows the worker ends the ones it follows (shed_inflight). The map
 * is mmapped by the agent (no system call per update); 64-bit fields are read and written whole.
 */
#define ST_MAX_WORKERS 64
/* A frame's cost in a TPACKET_V3 block beyond its captured bytes: tpacket3_hdr and sockaddr_ll
 * (80 bytes aligned) and the alignment of the next frame (up to 15). */
#define ST_RING_FRAME_OVERHEAD 96u
/* The header at the start of each block (tpacket_block_desc, 8-aligned; no private area). */
#define ST_RING_BLOCK_HEADER 48u
struct st_ring_guard {
	__u64 admitted;    /* by capture_snap: how far into the ring the kernel wrote (estimate) */
	__u64 read;        /* by the worker: how far it has read */
	__u64 limit;       /* by the agent: how far ahead `admitted` may run; 0: no guard */
	__u64 shed;        /* by capture_snap: connections this guard gave up */
	__u64 epoch;       /* by capture_snap: the retire period (ns / block_ns) of the last frame */
	__u64 block_ns;    /* by the agent: the ring's block retire timeout */
	__u32 block_bytes; /* by the agent: the ring's block size */
	__u32 workers;     /* by the agent: the fan-out's size (a connection's worker: its hash % workers) */
};

/* Where `admitted` goes with a frame of `captured` bytes, the kernel's way (af_packet.c,
 * __packet_lookup_frame_in_block): a block starts with its header, a frame goes in only if it ends
 * strictly before the block does, and a block handed over (by its timeout, `new_period`, or because
 * the frame does not fit) costs what was left of it. */
static __always_inline __u64 st_ring_guard_charge(__u64 admitted, __u32 captured, __u32 block_bytes, int new_period)
{
	__u32 cost = captured + ST_RING_FRAME_OVERHEAD;
	__u64 fill;

	if (!block_bytes)
		return admitted + cost;
	fill = admitted % block_bytes;
	if (fill && (new_period || fill + cost >= block_bytes)) {
		admitted += block_bytes - fill;
		fill = 0;
	}
	if (!fill)
		admitted += ST_RING_BLOCK_HEADER;
	return admitted + cost;
}

/* The sampling decision: 1 if a connection with this hash is mirrored at rate_ppm. */
static __always_inline int st_sampled(__u32 flow_hash, __u32 rate_ppm)
{
	return (flow_hash % ST_RATE_SCALE) < rate_ppm;
}

/* ---- layout checks ---------------------------------------------------------------------------- */
#ifdef __cplusplus
#define ST_STATIC_ASSERT static_assert
#else
#define ST_STATIC_ASSERT _Static_assert
#endif
ST_STATIC_ASSERT(sizeof(struct st_rule) == 16, "st_rule ABI");
ST_STATIC_ASSERT(sizeof(struct st_lpm_key) == 20, "st_lpm_key ABI");
ST_STATIC_ASSERT(sizeof(struct st_runtime) == 56, "st_runtime ABI");
ST_STATIC_ASSERT(sizeof(struct st_state) == 56, "st_state ABI");
ST_STATIC_ASSERT(sizeof(struct st_ring_guard) == 56, "st_ring_guard ABI");
ST_STATIC_ASSERT(sizeof(struct st_pkt_meta) == 32, "st_pkt_meta ABI");
ST_STATIC_ASSERT(__builtin_offsetof(struct st_pkt_meta, direction) == 24, "st_pkt_meta ABI");
ST_STATIC_ASSERT(__builtin_offsetof(struct st_pkt_meta, flags) == 25, "st_pkt_meta ABI");
ST_STATIC_ASSERT(sizeof(struct st_flow_key) == 36, "st_flow_key ABI");
ST_STATIC_ASSERT(sizeof(struct st_flow_decision) == 12, "st_flow_decision ABI");
ST_STATIC_ASSERT((ST_RING_BYTES & (ST_RING_BYTES - 1)) == 0, "ring size must be a power of two");

#endif /* SHADOWTAP_SHARED_H */
