// SPDX-License-Identifier: Apache-2.0
#include "capture/vxlan_socket_source.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <netinet/in.h>

namespace shadowtap {
namespace {

constexpr size_t kControlBytes = CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t));
constexpr int kReceiveBuffer = 64 << 20; // bursts of mirrored line-rate traffic wait here
constexpr size_t kEthernetHeader = 14;

void setInt(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof(value)); }

uint64_t realtimeNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace

VxlanSocketSource::VxlanSocketSource(const VxlanEndpoint &listen, std::optional<uint32_t> vni) : vni_(vni) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto *v4 = reinterpret_cast<sockaddr_in *>(&addr); inet_pton(AF_INET, listen.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(listen.port);
    len = sizeof(sockaddr_in);
  } else {
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&addr);
    if (inet_pton(AF_INET6, listen.address.c_str(), &v6->sin6_addr) != 1)
      throw UsageError("invalid --listen address '" + listen.address + "'");
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(listen.port);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  }
  fd_ = UniqueFd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_.valid())
    throwErrno("failed to open the collector's UDP socket", errno);
  // As much buffer as allowed: with CAP_NET_ADMIN past net.core.rmem_max, else up to it.
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof(kReceiveBuffer)) != 0)
    setInt(fd_.get(), SOL_SOCKET, SO_RCVBUF, kReceiveBuffer);
  setInt(fd_.get(), SOL_SOCKET, SO_RXQ_OVFL, 1);
  setInt(fd_.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1);
  if (::bind(fd_.get(), reinterpret_cast<sockaddr *>(&addr), len) != 0)
    throwErrno("failed to listen for VXLAN on " + listen.address + ":" + std::to_string(listen.port), errno);
  sockaddr_storage bound{};
  socklen_t boundLen = sizeof(bound);
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&bound), &boundLen);
  port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in *>(&bound)->sin_port
                                  : reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port);

  buffers_.resize(kBatch * kDatagramBytes);
  control_.resize(kBatch * kControlBytes);
  messages_.resize(kBatch);
  iovecs_.resize(kBatch);
}

bool VxlanSocketSource::poll(const FrameHandler &onFrame, uint32_t budget) {
  for (uint32_t turn = 0; turn < budget; turn++) {
    for (size_t i = 0; i < kBatch; i++) {
      iovecs_[i] = {buffers_.data() + i * kDatagramBytes, kDatagramBytes};
      messages_[i] = {};
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
      messages_[i].msg_hdr.msg_control = control_.data() + i * kControlBytes;
      messages_[i].msg_hdr.msg_controllen = kControlBytes;
    }
    int n = ::recvmmsg(fd_.get(), messages_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0)
      return false; // EAGAIN: drained (an error on a UDP socket is per datagram: it is gone too)
    for (int i = 0; i < n; i++) {
      auto &hdr = messages_[i].msg_hdr;
      size_t len = messages_[i].msg_len;
      stats_.datagrams.fetch_add(1, std::memory_order_relaxed);
      uint64_t tsNs = 0;
      for (cmsghdr *c = CMSG_FIRSTHDR(&hdr); c; c = CMSG_NXTHDR(&hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET)
          continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
          tsNs = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
          std::memcpy(&overflowSeen_, CMSG_DATA(c), sizeof(overflowSeen_));
        }
      }
      if (hdr.msg_flags & MSG_TRUNC) {
        stats_.cut.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const uint8_t *p = buffers_.data() + static_cast<size_t>(i) * kDatagramBytes;
      if (len < kVxlanHeader + kEthernetHeader || !(p[0] & 0x08)) { // RFC 7348: the I flag says the VNI is valid
        stats_.notVxlan.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      uint32_t vni = (uint32_t{p[4]} << 16) | (uint32_t{p[5]} << 8) | p[6];
      if (vni_ && vni != *vni_) {
        stats_.otherVni.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      stats_.frames.fetch_add(1, std::memory_order_relaxed);
      size_t frameLen = len - kVxlanHeader;
      onFrame(Frame{{p + kVxlanHeader, frameLen}, static_cast<uint32_t>(frameLen), tsNs ? tsNs : realtimeNs(),
                    FrameChecksum::Unverified, vni});
    }
    if (static_cast<size_t>(n) < kBatch)
      return false;
  }
  return true;
}

uint64_t VxlanSocketSource::takeKernelDrops() {
  uint32_t delta = overflowSeen_ - overflowTaken_; // the kernel's counter wraps at 2^32: so does this
  overflowTaken_ = overflowSeen_;
  return delta;
}

} // namespace shadowtap
