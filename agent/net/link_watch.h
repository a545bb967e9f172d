// SPDX-License-Identifier: Apache-2.0
// Tells the control loop when links come and go: an rtnetlink socket in RTMGRP_LINK, read on the
// loop. The messages are not parsed: any of them (or the socket overflowing, ENOBUFS) means
// "look again", and the listener rescans the interfaces by name. So a pod's veth is tapped
// within a loop turn of appearing, whatever was missed.
#pragma once

#include "common/unique_fd.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>

namespace shadowtap {

class LinkWatch {
public:
  LinkWatch(boost::asio::io_context &loop, std::function<void()> onChange); // throws Error
  ~LinkWatch();
  LinkWatch(const LinkWatch &) = delete;
  LinkWatch &operator=(const LinkWatch &) = delete;

private:
  void wait();

  std::function<void()> onChange_;
  boost::asio::posix::stream_descriptor socket_;
};

} // namespace shadowtap
