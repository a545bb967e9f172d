// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <unistd.h>

namespace shadowtap {

// Calls `onReadable` whenever `fd` becomes readable, on the io_context, until the object dies.
// Watches a dup of the fd: the descriptor's owner keeps (and closes) the original.
class ReadableWatch {
public:
  ReadableWatch(boost::asio::io_context &io, int fd, std::function<void()> onReadable)
      : descriptor_(io, ::dup(fd)), onReadable_(std::move(onReadable)) {
    arm();
  }

private:
  void arm() {
    descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [this](const boost::system::error_code &ec) {
                             if (ec)
                               return;
                             onReadable_();
                             arm();
                           });
  }
  boost::asio::posix::stream_descriptor descriptor_;
  std::function<void()> onReadable_;
};

} // namespace shadowtap
