// SPDX-License-Identifier: Apache-2.0
// One replay of one mirrored connection to one shadow target. Owns its socket; kept alive by its
// own pending asynchronous operations (shared_from_this), so the flow can be forgotten at once.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap::replay {

class Replayer;

class ShadowConnection : public std::enable_shared_from_this<ShadowConnection> {
public:
  ShadowConnection(Replayer &owner, size_t target);
  ~ShadowConnection();

  void start();
  void write(std::span<const uint8_t> bytes); // queued, bounded; sheds the connection past the limit
  void finish();                              // half-close once everything queued is written
  void abort();                               // the mirrored connection died: RST, count as aborted
  bool finRequested() const { return finRequested_; }

private:
  enum class Outcome { Completed, Aborted, ShedBacklog, ShedStalled, ConnectFailed, WriteFailed };
  void connectNext(size_t endpoint);
  void writeMore();
  void readAndDiscard();
  void maybeHalfClose();
  void close(Outcome outcome, bool reset);

  Replayer &owner_;
  size_t target_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::vector<uint8_t> queued_;  // waiting to be written
  std::vector<uint8_t> writing_; // handed to the kernel by the write in flight
  size_t writtenOfWriting_ = 0;  // how much of writing_ the kernel has taken
  std::array<uint8_t, 65536> readBuf_{};
  bool connected_ = false;
  bool writingActive_ = false;
  bool finRequested_ = false;
  bool finSent_ = false;
  bool closed_ = false;
};

} // namespace shadowtap::replay
