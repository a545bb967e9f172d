#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What memory costs the first time it is used (not a timed test): written through page faults,
# mapped in one call (MAP_POPULATE, as common/chunk_pool.h does for each slab) and then read the
# first time, against the same pages used again (a recycled chunk: the baseline). Prints the cost
# per 4 KiB page and its ratio to the baseline, measured in the same run. In a VM whose hypervisor
# keeps shadow page tables the first access to a page traps even once the guest mapped it; this is
# why the worker's buffers come from a pool and the capture ring is touched at start
# (docs/architecture.md, "Buffer memory"; common/touch_pages.h).
# Usage: bench/first_touch.sh [MiB, default 256]
set -euo pipefail
MIB=${1:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/first_touch.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static char *map(size_t n, int flags) {
  char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  return p;
}
static double touch(char *p, size_t n) { double t = now(); for (size_t i = 0; i < n; i += 4096) p[i] = 1; return now() - t; }
static double readAll(char *p, size_t n) { volatile char s = 0; double t = now(); for (size_t i = 0; i < n; i += 4096) s += p[i]; (void)s; return now() - t; }
int main(int argc, char **argv) {
  size_t n = (size_t)atoi(argv[1]) << 20, pages = n / 4096;
  char *a = map(n, 0);
  double faulted = touch(a, n);         /* first write: one page fault per page */
  double reused = touch(a, n);          /* the same pages again: the baseline */
  double t = now();
  char *b = map(n, MAP_POPULATE);       /* every page mapped in one call... */
  double populate = now() - t;
  double firstRead = readAll(b, n);     /* ...and still slow on its first access (shadow page tables) */
  double secondRead = readAll(b, n);
  double row[] = {reused, secondRead, populate, firstRead, faulted};
  const char *name[] = {"written again (baseline)", "read again", "MAP_POPULATE (the call)",
                        "first read, after MAP_POPULATE", "first write (page faults)"};
  for (int i = 0; i < 5; i++)
    printf("%-32s %8.2f us/page %8.1fx\n", name[i], row[i] * 1e6 / pages, row[i] / reused);
  return 0;
}
C
cc -O2 -o "$work/first_touch" "$work/first_touch.c"
echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $MIB MiB:"
"$work/first_touch" "$MIB"
