// SPDX-License-Identifier: Apache-2.0
// Load generator of the shadowtap load e2e tests: one epoll loop, no threads, no dependencies.
//
//   st_load serve    --listen IP:PORT [--procs P] [--stats FILE] [--dump-dir DIR] [--rcvlowat BYTES]
//       Accepts every connection and holds it; reads and discards (with --dump-dir, the bytes of
//       every connection that sends any are appended to DIR/<peer-ip>_<peer-port>.bin and, when it
//       ends, one JSON line {peer, peer_port, bytes, end: "eof"|"rst"} goes to DIR/conns.jsonl).
//       Closes a connection when the peer does (FIN back after its FIN; RST seen: closed).
//       With --procs P, P processes listen on the same address (SO_REUSEPORT).
//       --answer-http 1: an HTTP shadow of no work: every request head (up to its blank line; no
//       body expected) is answered `200` with an empty body, in order (keep-alive, pipelining);
//       counted in "answered".
//   st_load connect  --dst IP:PORT --src IP[,IP...] --count N [--procs P] [--inflight K]
//                    [--rate CPS] [--payload BYTES] [--stats FILE]
//       Opens N connections (at most K connecting at once), source addresses round-robin, each
//       bound with IP_BIND_ADDRESS_NO_PORT (ports picked per 4-tuple at connect), sends BYTES on
//       each once established, then holds them all until SIGTERM, counting any that die later.
//       With --procs P, P processes share the work (connection i is opened by process i % P, from
//       source address i % the number of addresses), K connecting at once in each. --rate: at
//       most CPS connections started per second, all processes together.
//   st_load churn    --dst IP:PORT --duration S [--rate CPS] [--inflight K] [--half-close 1]
//                    [--procs P] [--stats FILE]
//       One HTTP/1.1 request per connection ("GET / ... Connection: close"), for S seconds: each
//       connection sends the request once established, reads the response until the server
//       closes, then closes. --rate: at most CPS connections started per second (all processes
//       together; 0: as fast as K open connections per process allow). Counts completed (a
//       response and the server's FIN), failed (connect refused/reset, or EOF before any byte)
//       and the processes' own CPU time (cpu_us: user + system, softirq work run in their
//       context included): what a bare client pays per connection, the floor for a replayer.
//       --half-close 1: FIN right after the request, and the server's FIN completes the connection
//       even with no answer (for a byte sink such as `serve`, which closes when its peer does).
//   st_load synflood --dst IP:PORT --src-net A.B.C.D/LEN --count N --rate PPS [--stats FILE]
//       Raw IPv4 SYNs (IP_HDRINCL) from random addresses of the network and random ports, with
//       random sequence numbers, paced at PPS; nothing answers them (half-open connections).
//
// --stats FILE: a JSON object with the counters, rewritten (tmp + rename, never half-written)
// every 200 ms and at exit; "done" is true once connect/synflood finished their work.
// The counters are the sum over the processes (shared memory). SIGTERM/SIGINT: write the stats
// and exit 0. --procs exists because a process may hold no more descriptors than its hard
// RLIMIT_NOFILE, which CAP_SYS_RESOURCE would be needed to raise (containers often lack it):
// each process raises its soft limit to what it needs and fails clearly if the hard one is lower.
// Errors: one line on stderr, exit 1.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static volatile sig_atomic_t stop_flag;
static const char *stats_path;
static double t_start;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "st_load: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void parse_addr(const char *text, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof(host))
    die("bad address '%s' (want IPv4:PORT)", text);
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = 0;
  memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
    die("bad IPv4 address '%s'", host);
}

static void raise_nofile(rlim_t want) {
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur >= want)
    return;
  struct rlimit up = {want, want > r.rlim_max ? want : r.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &up) == 0)
    return;
  if (r.rlim_max < want)
    die("needs %lu descriptors per process, the hard RLIMIT_NOFILE is %lu: use more --procs",
        (unsigned long)want, (unsigned long)r.rlim_max);
  r.rlim_cur = r.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &r) != 0)
    die("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

// Stats: named counters, one slot per process in shared memory; the parent writes their sums.
#define MAX_STATS 16
#define MAX_PROCS 64
#define MAX_ERRNO 160
struct shared_stats {
  uint64_t values[MAX_PROCS][MAX_STATS];
  uint64_t errnos[MAX_PROCS][MAX_ERRNO];
  int done[MAX_PROCS];
};
static struct shared_stats *shared;
static const char *stat_names[MAX_STATS];
static int stat_count, nprocs = 1, me, is_worker;

static uint64_t *stat(const char *name) {
  for (int i = 0; i < stat_count; i++)
    if (strcmp(stat_names[i], name) == 0)
      return &shared->values[me][i];
  if (stat_count == MAX_STATS)
    die("too many stats");
  stat_names[stat_count] = name;
  return &shared->values[me][stat_count++];
}

static void write_stats(void) {
  if (!stats_path || is_worker)
    return;
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return;
  int done = 1;
  for (int p = 0; p < nprocs; p++)
    done &= shared->done[p];
  fprintf(f, "{\"pid\": %d, \"procs\": %d, \"elapsed\": %.3f, \"done\": %s", getpid(), nprocs,
          now_s() - t_start, done ? "true" : "false");
  for (int i = 0; i < stat_count; i++) {
    uint64_t sum = 0;
    for (int p = 0; p < nprocs; p++)
      sum += shared->values[p][i];
    fprintf(f, ", \"%s\": %llu", stat_names[i], (unsigned long long)sum);
  }
  fprintf(f, ", \"errors\": {");
  int first = 1;
  for (int e = 0; e < MAX_ERRNO; e++) {
    uint64_t sum = 0;
    for (int p = 0; p < nprocs; p++)
      sum += shared->errnos[p][e];
    if (sum) {
      fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", strerrorname_np(e) ? strerrorname_np(e) : "?",
              (unsigned long long)sum);
      first = 0;
    }
  }
  fprintf(f, "}}\n");
  fclose(f);
  rename(tmp, stats_path);
}

static void count_errno(int e) { shared->errnos[me][e >= 0 && e < MAX_ERRNO ? e : 0]++; }


// ---- process pool -----------------------------------------------------------------------------
// The parent forks nprocs workers (worker p has `me` = p and its own counter slots), writes the
// summed stats every 200 ms, forwards SIGTERM/SIGINT, and exits 1 if a worker failed.
static int run_workers(void (*worker)(void)) {
  pid_t pids[MAX_PROCS];
  for (int p = 0; p < nprocs; p++) {
    pid_t pid = fork();
    if (pid < 0)
      die("fork: %s", strerror(errno));
    if (pid == 0) {
      me = p;
      is_worker = 1;
      worker();
      _exit(0);
    }
    pids[p] = pid;
  }
  int alive = nprocs, rc = 0, forwarded = 0;
  while (alive > 0) {
    if ((stop_flag || rc) && !forwarded) {
      for (int p = 0; p < nprocs; p++)
        if (pids[p] > 0)
          kill(pids[p], SIGTERM);
      forwarded = 1;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (int p = 0; p < nprocs; p++)
        if (pids[p] == pid)
          pids[p] = -1;
      alive--;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = 1;
    }
    write_stats();
    if (alive > 0)
      usleep(200000);
  }
  write_stats();
  return rc;
}

// ---- serve -------------------------------------------------------------------------------------
struct conn {
  int dump_fd;  // -1: nothing received yet (or no --dump-dir)
  int head_end; // --answer-http: how much of "\r\n\r\n" the bytes so far end with
  uint64_t bytes;
  struct sockaddr_in peer;
};

static const char *serve_at, *dump_dir;
static long answer_http; // --answer-http 1
// --rcvlowat BYTES: SO_RCVLOWAT on each accepted connection, so epoll reports it readable only
// once that much has arrived (or its end): a sink that shares a CPU with the sender wakes, and
// preempts it, once per that many bytes rather than once per segment.
static long serve_rcvlowat;

static void serve_worker(void) {
  struct rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max; // as many as allowed: --procs spreads the connections
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur > 1048576)
    lim.rlim_cur = 1048576;
  const int max_fd = (int)lim.rlim_cur;
  struct conn *conns = calloc((size_t)max_fd, sizeof(*conns));
  if (!conns)
    die("out of memory");
  int log_fd = -1;
  if (dump_dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/conns.jsonl", dump_dir);
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
      die("cannot open %s: %s", path, strerror(errno));
  }
  uint64_t *accepted = stat("accepted"), *open_now = stat("open"), *eof = stat("closed_eof"),
           *rst = stat("closed_rst"), *bytes = stat("bytes"), *answered = stat("answered");
  static const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  enum { kAnswerLen = sizeof(kAnswer) - 1, kAnswerBatch = 64 };
  static char answers[kAnswerBatch * kAnswerLen];
  for (size_t i = 0; i < kAnswerBatch; i++)
    memcpy(answers + i * kAnswerLen, kAnswer, kAnswerLen);
  struct sockaddr_in addr;
  parse_addr(serve_at, &addr);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0)
    die("cannot bind %s: %s", serve_at, strerror(errno));
  if (listen(ls, 65535) != 0)
    die("cannot listen on %s: %s", serve_at, strerror(errno));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  shared->done[me] = 1; // listening: "done" means ready for a server

  static char buf[1 << 16];
  struct epoll_event events[512];
  while (!stop_flag) {
    int n = epoll_wait(ep, events, 512, 100);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        for (;;) {
          struct sockaddr_in peer;
          socklen_t plen = sizeof(peer);
          int c = accept4(ls, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
              count_errno(errno);
            break;
          }
          if (c >= max_fd) {
            close(c);
            count_errno(EMFILE);
            continue;
          }
          conns[c] = (struct conn){.dump_fd = -1, .peer = peer};
          if (serve_rcvlowat > 0) {
            int lowat = (int)serve_rcvlowat;
            if (setsockopt(c, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) != 0)
              count_errno(errno);
          }
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          (*accepted)++;
          (*open_now)++;
        }
        continue;
      }
      struct conn *cn = &conns[fd];
      int end = 0; // 1 eof, 2 rst
      for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0) {
          cn->bytes += (uint64_t)r;
          *bytes += (uint64_t)r;
          size_t heads = 0;
          for (ssize_t k = 0; answer_http && k < r; k++) {
            static const char kEnd[] = "\r\n\r\n";
            cn->head_end = buf[k] == kEnd[cn->head_end] ? cn->head_end + 1 : (buf[k] == '\r' ? 1 : 0);
            if (cn->head_end == 4) {
              cn->head_end = 0;
              heads++;
            }
          }
          // The answers to one read's pipelined requests go in one write, as nginx sends a
          // pipelined batch's responses together: written one by one, Nagle holds the second
          // until the client's delayed ACK (40 ms a batch). Tiny, and the socket's buffer is
          // empty while the client waits: never short here.
          while (heads > 0) {
            size_t n = heads < kAnswerBatch ? heads : kAnswerBatch;
            if (write(fd, answers, n * kAnswerLen) == (ssize_t)(n * kAnswerLen))
              *answered += n;
            else
              count_errno(errno);
            heads -= n;
          }
          if (dump_dir) {
            if (cn->dump_fd < 0) {
              char path[4096], ip[32];
              inet_ntop(AF_INET, &cn->peer.sin_addr, ip, sizeof(ip));
              snprintf(path, sizeof(path), "%s/%s_%u.bin", dump_dir, ip, ntohs(cn->peer.sin_port));
              cn->dump_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            }
            if (cn->dump_fd >= 0 && write(cn->dump_fd, buf, (size_t)r) != r)
              count_errno(errno);
          }
          continue;
        }
        if (r == 0) {
          end = 1;
        } else if (errno == EAGAIN) {
          break;
        } else if (errno == EINTR) {
          continue;
        } else {
          if (errno != ECONNRESET)
            count_errno(errno);
          end = 2;
        }
        break;
      }
      if (!end)
        continue;
      if (end == 1)
        (*eof)++;
      else
        (*rst)++;
      (*open_now)--;
      if (log_fd >= 0 && cn->bytes) {
        char ip[32], line[256];
        inet_ntop(AF_INET, &cn->peer.sin_addr, ip, sizeof(ip));
        int len = snprintf(line, sizeof(line), "{\"peer\": \"%s\", \"peer_port\": %u, \"bytes\": %llu, \"end\": \"%s\"}\n",
                           ip, ntohs(cn->peer.sin_port), (unsigned long long)cn->bytes, end == 1 ? "eof" : "rst");
        if (write(log_fd, line, (size_t)len) != len) // one write, O_APPEND: lines never interleave
          count_errno(errno);
      }
      if (cn->dump_fd >= 0)
        close(cn->dump_fd);
      cn->dump_fd = -1;
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      close(fd); // after the peer's FIN: our FIN; after its RST: nothing
    }
  }
}

// Every mode's options are "--name VALUE": a table per mode says which variable each one sets (a
// string, or a number read with atol); anything else is an error.
struct option_def {
  const char *name;
  const char **text;
  long *number;
};

static long procs_arg = 1; // --procs, copied into nprocs

static void parse_options(const char *mode, int argc, char **argv, const struct option_def *defs) {
  for (int i = 0; i < argc; i++) {
    const struct option_def *d = defs;
    while (d->name && (strcmp(argv[i], d->name) || i + 1 >= argc))
      d++;
    if (!d->name)
      die("%s: unknown argument '%s'", mode, argv[i]);
    if (d->text)
      *d->text = argv[++i];
    else
      *d->number = atol(argv[++i]);
  }
  nprocs = (int)procs_arg;
}

static int serve(int argc, char **argv) {
  const struct option_def defs[] = {{"--listen", &serve_at, NULL},
                                    {"--stats", &stats_path, NULL},
                                    {"--dump-dir", &dump_dir, NULL},
                                    {"--procs", NULL, &procs_arg},
                                    {"--answer-http", NULL, &answer_http},
                                    {"--rcvlowat", NULL, &serve_rcvlowat},
                                    {NULL, NULL, NULL}};
  parse_options("serve", argc, argv, defs);
  if (serve_rcvlowat < 0 || serve_rcvlowat > (1 << 30))
    die("serve: --rcvlowat 0..%d", 1 << 30);
  if (!serve_at || nprocs < 1 || nprocs > MAX_PROCS)
    die("serve: --listen IP:PORT is required, --procs 1..%d", MAX_PROCS);
  stat("accepted"), stat("open"), stat("closed_eof"), stat("closed_rst"), stat("bytes"), stat("answered");
  return run_workers(serve_worker);
}

// ---- connect -----------------------------------------------------------------------------------
static struct sockaddr_in connect_dst;
static struct in_addr connect_srcs[64];
static int connect_nsrc;
static long connect_count, connect_inflight = 1000, connect_payload, connect_rate;

static void connect_worker(void) {
  long mine = connect_count / nprocs + (me < connect_count % nprocs ? 1 : 0);
  raise_nofile((rlim_t)mine + 64);
  char *data = malloc(connect_payload ? (size_t)connect_payload : 1);
  for (long i = 0; i < connect_payload; i++)
    data[i] = (char)('a' + i % 26);
  uint64_t *started = stat("started"), *established = stat("established"), *failed = stat("failed"),
           *died = stat("died_later"), *sent = stat("payload_bytes"), *inflight = stat("inflight");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event events[1024];
  long next = me; // global connection index: me, me + nprocs, ...
  double t0 = now_s();
  while (!stop_flag) {
    // --rate: connection i is not started before t0 + i / rate (all processes together).
    long due = connect_rate ? (long)((now_s() - t0) * (double)connect_rate) + 1 : connect_count;
    while (next < connect_count && next < due && (long)*inflight < connect_inflight) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        die("socket: %s", strerror(errno));
      int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = connect_srcs[next % connect_nsrc]};
      next += nprocs;
      (*started)++;
      if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
          (connect(fd, (struct sockaddr *)&connect_dst, sizeof(connect_dst)) != 0 && errno != EINPROGRESS)) {
        count_errno(errno);
        (*failed)++;
        close(fd);
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      (*inflight)++;
    }
    if (next >= connect_count && *inflight == 0)
      shared->done[me] = 1;
    int n = epoll_wait(ep, events, 1024, connect_rate && next < connect_count ? 1 : 100);
    for (int i = 0; i < n; i++) {
      int fd = (int)events[i].data.u64;
      if (events[i].events & EPOLLOUT) { // connect finished, one way or the other
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        (*inflight)--;
        if (err) {
          count_errno(err);
          (*failed)++;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
          close(fd);
          continue;
        }
        (*established)++;
        if (connect_payload) {
          ssize_t w = write(fd, data, (size_t)connect_payload);
          if (w > 0)
            *sent += (uint64_t)w;
        }
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = (uint64_t)fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        continue;
      }
      // An established connection closed or reset by the other side: held connections must not.
      (*died)++;
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      close(fd);
    }
  }
}

static int connect_mode(int argc, char **argv) {
  const char *dst_text = NULL, *src_text = NULL;
  const struct option_def defs[] = {{"--dst", &dst_text, NULL},
                                    {"--src", &src_text, NULL},
                                    {"--count", NULL, &connect_count},
                                    {"--inflight", NULL, &connect_inflight},
                                    {"--payload", NULL, &connect_payload},
                                    {"--rate", NULL, &connect_rate},
                                    {"--procs", NULL, &procs_arg},
                                    {"--stats", &stats_path, NULL},
                                    {NULL, NULL, NULL}};
  parse_options("connect", argc, argv, defs);
  if (!dst_text || !src_text || connect_count <= 0 || connect_inflight <= 0 || connect_payload < 0 ||
      connect_payload > 65536 || nprocs < 1 || nprocs > MAX_PROCS)
    die("connect: --dst, --src and --count are required (--procs 1..%d, --payload <= 65536)", MAX_PROCS);
  parse_addr(dst_text, &connect_dst);
  char *list = strdup(src_text);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    if (connect_nsrc == 64 || inet_pton(AF_INET, tok, &connect_srcs[connect_nsrc]) != 1)
      die("connect: bad --src '%s'", tok);
    connect_nsrc++;
  }
  stat("started"), stat("established"), stat("failed"), stat("died_later"), stat("payload_bytes"), stat("inflight");
  return run_workers(connect_worker);
}

// ---- churn -------------------------------------------------------------------------------------
static struct sockaddr_in churn_dst;
static long churn_duration, churn_rate, churn_inflight = 16, churn_half_close;

static uint64_t own_cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (uint64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000u + (uint64_t)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static void churn_worker(void) {
  static const char request[] = "GET / HTTP/1.1\r\nHost: st-load\r\nConnection: close\r\n\r\n";
  uint64_t *started = stat("started"), *completed = stat("completed"), *failed = stat("failed"),
           *open_now = stat("open"), *cpu = stat("cpu_us");
  raise_nofile((rlim_t)churn_inflight + 64);
  uint64_t *got = calloc((size_t)churn_inflight + 1024, sizeof(uint64_t)); // bytes read, by fd
  long fds = churn_inflight + 1024;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event events[256];
  char buf[65536];
  long mine = 0; // connections this process started; global index me + mine * nprocs
  double t0 = now_s(), end = t0 + (double)churn_duration;
  while (!stop_flag && (now_s() < end || *open_now > 0)) {
    double now = now_s();
    long due = churn_rate ? (long)((now - t0) * (double)churn_rate) + 1 : LONG_MAX;
    while (now < end && me + mine * nprocs < due && (long)*open_now < churn_inflight) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0 || fd >= fds)
        die("socket: %s", fd < 0 ? strerror(errno) : "descriptor past the table");
      mine++;
      (*started)++;
      if (connect(fd, (struct sockaddr *)&churn_dst, sizeof(churn_dst)) != 0 && errno != EINPROGRESS) {
        count_errno(errno);
        (*failed)++;
        close(fd);
        continue;
      }
      got[fd] = 0;
      struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      (*open_now)++;
    }
    int n = epoll_wait(ep, events, 256, churn_rate ? 1 : 100);
    for (int i = 0; i < n; i++) {
      int fd = (int)events[i].data.u64;
      int ended = 0;
      if (events[i].events & EPOLLOUT) { // connected (or failed): send the request, then read
        if (write(fd, request, sizeof(request) - 1) != (ssize_t)sizeof(request) - 1) {
          count_errno(errno);
          ended = -1;
        } else {
          if (churn_half_close)
            shutdown(fd, SHUT_WR);
          struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        }
      } else {
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0)
          got[fd] += (uint64_t)r;
        if (r == 0)
          ended = got[fd] || churn_half_close ? 1 : -1;
        else if (errno != EAGAIN) {
          count_errno(errno);
          ended = -1;
        }
      }
      if (ended) {
        (*(ended > 0 ? completed : failed))++;
        (*open_now)--;
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
      }
    }
    *cpu = own_cpu_us();
  }
  *cpu = own_cpu_us();
  shared->done[me] = 1;
}

static int churn(int argc, char **argv) {
  const char *dst_text = NULL;
  const struct option_def defs[] = {{"--dst", &dst_text, NULL},
                                    {"--duration", NULL, &churn_duration},
                                    {"--rate", NULL, &churn_rate},
                                    {"--inflight", NULL, &churn_inflight},
                                    {"--half-close", NULL, &churn_half_close},
                                    {"--procs", NULL, &procs_arg},
                                    {"--stats", &stats_path, NULL},
                                    {NULL, NULL, NULL}};
  parse_options("churn", argc, argv, defs);
  if (!dst_text || churn_duration <= 0 || churn_rate < 0 || churn_inflight <= 0 || nprocs < 1 || nprocs > MAX_PROCS)
    die("churn: --dst and --duration are required (--inflight > 0, --procs 1..%d)", MAX_PROCS);
  parse_addr(dst_text, &churn_dst);
  stat("started"), stat("completed"), stat("failed"), stat("open"), stat("cpu_us");
  return run_workers(churn_worker);
}

// ---- synflood ----------------------------------------------------------------------------------
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { // xorshift64*
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1)
    sum += (uint32_t)(p[len - 1] << 8);
  return sum;
}

static struct sockaddr_in flood_dst;
static uint32_t flood_base, flood_hosts;
static long flood_count, flood_rate;

static void flood_worker(void) {
  rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
  int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW); // IP_HDRINCL implied
  if (s < 0)
    die("raw socket: %s (needs CAP_NET_RAW)", strerror(errno));
  int sndbuf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  uint64_t *sent = stat("sent"), *send_errors = stat("send_errors");
  double t0 = now_s();
  uint8_t pkt[44]; // IPv4 (20) + TCP (20) + MSS option (4)
  for (long i = 0; i < flood_count && !stop_flag; i++) {
    // Pacing: sleep while ahead of schedule (checked every 16 packets: cheap and smooth enough).
    if ((i & 15) == 0) {
      double due = t0 + (double)i / (double)flood_rate, now = now_s();
      if (due > now) {
        double d = due - now;
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
      }
    }
    uint32_t src = flood_base + 1 + (uint32_t)(rnd() % flood_hosts);
    uint16_t sport = (uint16_t)(1024 + rnd() % 64000);
    memset(pkt, 0, sizeof(pkt));
    struct iphdr *ip = (struct iphdr *)pkt;
    ip->version = 4;
    ip->ihl = 5;
    ip->tot_len = htons(sizeof(pkt));
    ip->id = htons((uint16_t)rnd());
    ip->ttl = 64;
    ip->protocol = IPPROTO_TCP;
    ip->saddr = htonl(src);
    ip->daddr = flood_dst.sin_addr.s_addr;
    struct tcphdr *tcp = (struct tcphdr *)(pkt + 20);
    tcp->source = htons(sport);
    tcp->dest = flood_dst.sin_port;
    tcp->seq = htonl((uint32_t)rnd());
    tcp->doff = 6;
    tcp->syn = 1;
    tcp->window = htons(64240);
    uint8_t *opt = pkt + 40;
    opt[0] = 2, opt[1] = 4, opt[2] = 0x05, opt[3] = 0xb4; // MSS 1460
    uint8_t pseudo[12];
    memcpy(pseudo, &ip->saddr, 4);
    memcpy(pseudo + 4, &ip->daddr, 4);
    pseudo[8] = 0, pseudo[9] = IPPROTO_TCP, pseudo[10] = 0, pseudo[11] = 24;
    tcp->check = htons(csum_fold(csum_add(csum_add(0, pseudo, 12), tcp, 24)));
    ip->check = htons(csum_fold(csum_add(0, ip, 20)));
    if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&flood_dst, sizeof(flood_dst)) == (ssize_t)sizeof(pkt)) {
      (*sent)++;
    } else {
      count_errno(errno);
      (*send_errors)++;
      if (errno == ENOBUFS || errno == EAGAIN)
        usleep(100);
    }
  }
  shared->done[me] = 1;
}

static int synflood(int argc, char **argv) {
  const char *dst_text = NULL, *net_text = NULL;
  const struct option_def defs[] = {{"--dst", &dst_text, NULL},
                                    {"--src-net", &net_text, NULL},
                                    {"--count", NULL, &flood_count},
                                    {"--rate", NULL, &flood_rate},
                                    {"--stats", &stats_path, NULL},
                                    {NULL, NULL, NULL}};
  parse_options("synflood", argc, argv, defs);
  if (!dst_text || !net_text || flood_count <= 0 || flood_rate <= 0)
    die("synflood: --dst, --src-net, --count and --rate are required");
  parse_addr(dst_text, &flood_dst);
  char netbuf[64];
  snprintf(netbuf, sizeof(netbuf), "%s", net_text);
  char *slash = strchr(netbuf, '/');
  if (!slash)
    die("synflood: --src-net wants A.B.C.D/LEN");
  *slash = 0;
  int plen = atoi(slash + 1);
  struct in_addr net;
  if (inet_pton(AF_INET, netbuf, &net) != 1 || plen < 8 || plen > 30)
    die("synflood: bad --src-net '%s'", net_text);
  flood_base = ntohl(net.s_addr) & (0xffffffffu << (32 - plen));
  flood_hosts = (1u << (32 - plen)) - 2;
  stat("sent"), stat("send_errors");
  return run_workers(flood_worker);
}

int main(int argc, char **argv) {
  if (argc < 2)
    die("usage: st_load serve|connect|churn|synflood ARGS... (see the source)");
  t_start = now_s();
  shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED)
    die("mmap: %s", strerror(errno));
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(argv[1], "serve"))
    return serve(argc - 2, argv + 2);
  if (!strcmp(argv[1], "connect"))
    return connect_mode(argc - 2, argv + 2);
  if (!strcmp(argv[1], "churn"))
    return churn(argc - 2, argv + 2);
  if (!strcmp(argv[1], "synflood"))
    return synflood(argc - 2, argv + 2);
  die("unknown mode '%s'", argv[1]);
  return 1;
}
