// SPDX-License-Identifier: Apache-2.0
// Someone else's tc program, for the e2e tests that check shadowtap never ends another program's
// chain, and an independent look at an interface's tcx chain (bpftool 7.1 predates tcx).
//
//   tc_probe list IFACE ingress|egress
//       One line per program on the hook's tcx chain, in the order they run: "ID NAME".
//   tc_probe run IFACE ingress|egress --via tcx|clsact [--prio N] [--first]
//                --action count|drop|pass [--out FILE]
//       Loads a four-instruction program that counts the packets it sees in an array map and
//       returns: count -> "next" (TC_ACT_UNSPEC = TCX_NEXT), drop -> TC_ACT_SHOT = TCX_DROP,
//       pass -> TC_ACT_OK = TCX_PASS (ends the chain). Attaches it through tcx (appended after what
//       is there; --first: at the head, BPF_F_BEFORE) or as a cls_bpf filter at priority N on
//       clsact (created if missing, and left: the namespace goes with the test). Prints "ready" once attached, writes
//       the count to FILE every 100 ms (tmp + rename), and detaches on SIGTERM/SIGINT (exit 0).
// Errors: one line on stderr, exit 1. Built by tests/e2e/CMakeLists.txt (needs libbpf).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TCX_INGRESS 46 /* enum bpf_attach_type on 6.6+ (Debian 12's headers predate it) */
#define TCX_EGRESS 47
#define F_BEFORE (1u << 3)

struct link_create_tcx {
	uint32_t prog_fd, ifindex, attach_type, flags, relative, pad;
	uint64_t expected_revision;
};

struct query_tcx {
	uint32_t ifindex, attach_type, query_flags, attach_flags;
	uint64_t prog_ids;
	uint32_t count, pad;
	uint64_t prog_attach_flags, link_ids, link_attach_flags, revision;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what)
{
	fprintf(stderr, "tc_probe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
	return i;
}

static int cmd_list(int ifindex, uint32_t type)
{
	uint32_t progs[64] = {0};
	struct query_tcx q = {.ifindex = (uint32_t)ifindex, .attach_type = type, .count = 64};

	q.prog_ids = (uintptr_t)progs;
	if (syscall(__NR_bpf, BPF_PROG_QUERY, &q, sizeof(q)) != 0)
		die("tcx query");
	for (uint32_t i = 0; i < q.count && i < 64; i++) {
		struct bpf_prog_info info = {0};
		uint32_t len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(progs[i]);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
			printf("%u ?\n", progs[i]);
		else
			printf("%u %s\n", progs[i], info.name);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tc_probe list|run IFACE ingress|egress [options]\n");
		return 1;
	}
	libbpf_set_print(NULL); /* "Exclusivity flag on" for an existing clsact is expected */
	int ifindex = (int)if_nametoindex(argv[2]);
	if (!ifindex)
		die(argv[2]);
	int ingress = strcmp(argv[3], "ingress") == 0;
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(ifindex, ingress ? TCX_INGRESS : TCX_EGRESS);

	const char *via = "tcx", *action = "count", *out = NULL;
	int prio = 0, first = 0;
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--via") && i + 1 < argc)
			via = argv[++i];
		else if (!strcmp(argv[i], "--prio") && i + 1 < argc)
			prio = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--first"))
			first = 1;
		else if (!strcmp(argv[i], "--action") && i + 1 < argc)
			action = argv[++i];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else {
			fprintf(stderr, "tc_probe: unknown option %s\n", argv[i]);
			return 1;
		}
	}
	int verdict = !strcmp(action, "drop") ? 2 : !strcmp(action, "pass") ? 0 : -1;

	int map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "probe_count", 4, 8, 1, NULL);
	if (map < 0)
		die("map create");
	struct bpf_insn prog[] = {
		insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),         /* key = 0 */
		insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0), /* r2 = &key */
		insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map),
		insn(0, 0, 0, 0, 0),
		insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),
		insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
		insn(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD), /* *value += 1 */
		insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, verdict),
		insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	char name[16];
	snprintf(name, sizeof(name), "probe_%s", action);
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", prog, sizeof(prog) / sizeof(prog[0]), NULL);
	if (fd < 0)
		die("program load");

	int link = -1;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = (uint32_t)prio, .priority = (uint32_t)prio);
	if (!strcmp(via, "tcx")) {
		struct link_create_tcx attr = {.prog_fd = (uint32_t)fd, .ifindex = (uint32_t)ifindex,
					       .attach_type = ingress ? TCX_INGRESS : TCX_EGRESS,
					       .flags = first ? F_BEFORE : 0};
		link = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
		if (link < 0)
			die("tcx attach");
	} else {
		if (prio <= 0) {
			fprintf(stderr, "tc_probe: --via clsact needs --prio\n");
			return 1;
		}
		int err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST) {
			errno = -err;
			die("clsact create");
		}
		err = bpf_tc_attach(&hook, &opts);
		if (err) {
			errno = -err;
			die("cls_bpf attach");
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);

	char tmp[4096];
	if (out)
		snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	while (!stop) {
		uint32_t key = 0;
		uint64_t count = 0;
		if (out && bpf_map_lookup_elem(map, &key, &count) == 0) {
			FILE *f = fopen(tmp, "w");
			if (f) {
				fprintf(f, "%llu\n", (unsigned long long)count);
				fclose(f);
				rename(tmp, out);
			}
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (link >= 0) {
		close(link);
	} else {
		opts.prog_fd = 0;
		opts.prog_id = 0;
		opts.flags = 0;
		bpf_tc_detach(&hook, &opts);
	}
	return 0;
}
