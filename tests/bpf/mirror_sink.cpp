// SPDX-License-Identifier: Apache-2.0
#include "mirror_sink.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace shadowtap::test {

MirrorSink::MirrorSink(int ifindex) {
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd_ < 0)
    throw std::runtime_error(std::string("failed to open an AF_PACKET socket: ") + std::strerror(errno));
  int one = 1, rcvbuf = 16 << 20;
  ::setsockopt(fd_, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
  // The fuzz tests clone thousands of frames between reads: do not let the socket drop any.
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex;
  if (::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd_);
    throw std::runtime_error(std::string("failed to bind the AF_PACKET socket: ") + std::strerror(err));
  }
}

MirrorSink::~MirrorSink() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::optional<Bytes> MirrorSink::receive(int timeoutMs) {
  for (;;) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeoutMs) <= 0)
      return std::nullopt;
    Bytes frame(65536);
    sockaddr_ll from{};
    iovec iov{frame.data(), frame.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0)
      return std::nullopt;
    if (from.sll_pkttype == PACKET_OUTGOING)
      continue; // only what arrives through the mirror counts
    frame.resize(static_cast<size_t>(n));
    for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA)
        continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
      if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || frame.size() < 12)
        continue;
      uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
      uint8_t tag[4] = {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid),
                        static_cast<uint8_t>(aux.tp_vlan_tci >> 8), static_cast<uint8_t>(aux.tp_vlan_tci)};
      frame.insert(frame.begin() + 12, tag, tag + 4);
    }
    return frame;
  }
}

} // namespace shadowtap::test
