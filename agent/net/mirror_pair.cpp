// SPDX-License-Identifier: Apache-2.0
#include "net/mirror_pair.h"

#include "common/error.h"
#include "net/link.h"

#include <spdlog/spdlog.h>

namespace shadowtap {

MirrorPair::MirrorPair(const std::optional<std::string> &userIface) {
  if (userIface) {
    txName_ = *userIface;
    txIfindex_ = ifindexOf(txName_);
    if (!txIfindex_)
      throw UsageError("unknown --mirror-iface '" + txName_ + "': no such interface");
    return;
  }
  txName_ = kMirrorTx;
  if (!ifindexOf(kMirrorTx)) {
    createVethPair(kMirrorTx, kMirrorRx);
    created_ = true;
    spdlog::info("created mirror veth pair {} -> {}", kMirrorTx, kMirrorRx);
  } else {
    spdlog::info("reusing existing mirror interface {}", kMirrorTx);
  }
  try {
    // As large as a veth allows: a clone bigger than the mirror port's MTU is refused by the
    // kernel, so a 1500-byte mirror port would lose every jumbo frame of a 9000-MTU NIC (GSO
    // super-packets pass either way; single big frames do not).
    setMtu(kMirrorTx, kMirrorMtu);
    setMtu(kMirrorRx, kMirrorMtu);
    makeSilentAndUp(kMirrorTx);
    makeSilentAndUp(kMirrorRx);
  } catch (...) {
    if (created_)
      deleteLink(kMirrorTx);
    throw;
  }
  txIfindex_ = ifindexOf(kMirrorTx);
}

MirrorPair::~MirrorPair() {
  if (!created_)
    return;
  try {
    deleteLink(txName_); // deleting one end of a veth removes its peer too
  } catch (const std::exception &e) {
    spdlog::warn("{}", e.what());
  }
}

} // namespace shadowtap
