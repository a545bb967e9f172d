// SPDX-License-Identifier: Apache-2.0
// RAII for the TC side: the clsact qdisc (destroyed only if this agent created it) and one
// filter per direction at shadowtap's fixed handle/priority, so `detach` can find them later.
#pragma once

#include <string>

namespace shadowtap {

enum class TcDirection { Ingress, Egress };

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

class TcFilter {
public:
  TcFilter(int ifindex, const std::string &iface, TcDirection direction, int progFd); // throws
  ~TcFilter();
  TcFilter(const TcFilter &) = delete;
  TcFilter &operator=(const TcFilter &) = delete;

private:
  int ifindex_;
  TcDirection direction_;
};

// For `detach` and the already-tapped check: is shadowtap's filter on this hook? Remove it.
bool tcFilterPresent(int ifindex, TcDirection direction);
bool removeTcFilter(int ifindex, TcDirection direction);
void destroyClsact(int ifindex);

} // namespace shadowtap
