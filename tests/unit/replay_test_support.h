// SPDX-License-Identifier: Apache-2.0
// What the replay-side tests share: loopback targets, an event loop run for a while, bytes of a string.
#pragma once

#include "replay/shadow_target.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shadowtap::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A listening socket on 127.0.0.1, on a port the kernel picks.
inline tcp::acceptor loopbackAcceptor(asio::io_context &io) {
  return tcp::acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

// A loopback port nothing listens on: connections to it are refused.
inline uint16_t refusedLoopbackPort(asio::io_context &io) {
  return loopbackAcceptor(io).local_endpoint().port(); // the acceptor closes again here
}

// Accepts connections until the acceptor is closed, handing each one to `onSocket`.
inline void acceptEach(tcp::acceptor &acceptor, std::function<void(tcp::socket)> onSocket) {
  acceptor.async_accept([&acceptor, onSocket](boost::system::error_code ec, tcp::socket socket) {
    if (ec)
      return;
    onSocket(std::move(socket));
    acceptEach(acceptor, onSocket);
  });
}

// A resolved shadow target on 127.0.0.1:port.
inline replay::ShadowTarget loopbackTarget(uint16_t port) {
  std::vector<replay::ShadowTarget> t{replay::parseShadowTarget("127.0.0.1:" + std::to_string(port))};
  replay::resolveTargets(t);
  return t[0];
}

// Runs the loop for `ms` (again, after an earlier run stopped it).
inline void runFor(boost::asio::io_context &io, int ms) {
  io.restart();
  io.run_for(std::chrono::milliseconds(ms));
}

inline std::span<const uint8_t> bytes(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

} // namespace shadowtap::test
