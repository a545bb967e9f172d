// SPDX-License-Identifier: Apache-2.0
#include "net/link_watch.h"

#include "common/error.h"

#include <cerrno>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace shadowtap {

LinkWatch::LinkWatch(boost::asio::io_context &loop, std::function<void()> onChange)
    : onChange_(std::move(onChange)), socket_(loop) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid())
    throwErrno("failed to open an rtnetlink socket to follow interfaces", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr *>(&local), sizeof(local)) != 0)
    throwErrno("failed to subscribe to link changes (rtnetlink RTMGRP_LINK)", errno);
  socket_.assign(fd.release());
  wait();
}

LinkWatch::~LinkWatch() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void LinkWatch::wait() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code &ec) {
    if (ec)
      return; // closed
    // Drain: one rescan answers every message waiting (and ENOBUFS: some were lost, rescan anyway).
    char buffer[16384];
    while (::recv(socket_.native_handle(), buffer, sizeof(buffer), MSG_DONTWAIT) > 0 || errno == ENOBUFS) {
    }
    onChange_();
    wait();
  });
}

} // namespace shadowtap
