// SPDX-License-Identifier: Apache-2.0
// RAII for the TC side, in one of two attach modes chosen at start:
//   tcx    (Linux 6.6+): each program is a BPF link (BPF_LINK_CREATE, BPF_TCX_INGRESS/EGRESS) placed
//          at the head of the interface's tcx chain (BPF_F_BEFORE, no relative program), so nothing
//          attached before it can hide packets from it. The links are not pinned: they end with the
//          agent's process (fail open: a dead agent leaves no program running).
//   clsact (older kernels): the clsact qdisc (destroyed only if this agent created it) and one
//          cls_bpf filter per direction at shadowtap's fixed handle/priority, so `detach` can find it.
// In both modes the programs return "next" (TCX_NEXT / TC_ACT_UNSPEC): every later tcx program and
// every clsact filter still runs.
#pragma once

#include "common/unique_fd.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shadowtap {

enum class TcDirection { Ingress, Egress };
enum class TcAttachMode { Tcx, Clsact };

const char *attachModeName(TcAttachMode mode);

// The attach mode for `ifindex`: SHADOWTAP_TC_ATTACH=tcx|clsact forces one (clsact: to run the
// pre-6.6 path on a newer kernel); otherwise tcx where the kernel has it (a tcx query on the
// interface succeeds), else clsact. Throws Error if tcx is forced on a kernel without it.
TcAttachMode chooseTcAttachMode(int ifindex, const std::string &iface);

class ClsactQdisc {
public:
  ClsactQdisc(int ifindex, const std::string &iface); // creates clsact unless present; throws
  ~ClsactQdisc();
  ClsactQdisc(const ClsactQdisc &) = delete;
  ClsactQdisc &operator=(const ClsactQdisc &) = delete;
  bool created() const { return created_; }
  // Keep the qdisc on destruction (another process now owns the decision).
  void release() { created_ = false; }

private:
  int ifindex_;
  bool created_ = false;
};

// One shadowtap program on one direction of an interface, in either attach mode. Detached on
// destruction (tcx: the link is closed; clsact: the filter is deleted).
class TcProgram {
public:
  TcProgram(TcAttachMode mode, int ifindex, const std::string &iface, TcDirection direction, int progFd); // throws
  ~TcProgram();
  TcProgram(const TcProgram &) = delete;
  TcProgram &operator=(const TcProgram &) = delete;

private:
  TcAttachMode mode_;
  int ifindex_;
  TcDirection direction_;
  UniqueFd link_; // tcx only
};

// For `detach`, `status` and the already-tapped check.
// clsact: is shadowtap's filter on this hook? Remove it.
bool tcFilterPresent(int ifindex, TcDirection direction);
bool removeTcFilter(int ifindex, TcDirection direction);
bool destroyClsact(int ifindex); // true if it was there and is gone
// tcx: how many shadowtap programs (named tc_ingress/tc_egress/tc_egress_ring and using maps named
// st_rules and st_runtime) are on this hook's tcx chain, and detach their links (a live agent's, for `detach`).
// Identifying a program by id needs CAP_SYS_ADMIN; without it nothing is found.
int tcxProgramsPresent(int ifindex, TcDirection direction);
int removeTcxPrograms(int ifindex, TcDirection direction);
// The ids of the programs on a hook's tcx chain, in the order they run (empty without tcx).
std::vector<uint32_t> tcxChain(int ifindex, TcDirection direction);

} // namespace shadowtap
