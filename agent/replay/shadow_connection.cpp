// SPDX-License-Identifier: Apache-2.0
#include "replay/shadow_connection.h"

#include "common/clock.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 // linux/in.h; glibc's netinet/in.h may lack it
#endif

namespace shadowtap::replay {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

uint64_t nsOf(const timespec &t) {
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_nsec);
}

// The software timestamp in a message's control data (0: none).
uint64_t softwareTimestamp(msghdr &msg) {
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
      scm_timestamping ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return nsOf(ts.ts[0]);
    }
  return 0;
}

} // namespace

ShadowConnection::ShadowConnection(ReplayContext &context, TargetState &target, bool http)
    : context_(context), target_(target), socket_(context.io), timer_(context.io), backlog_(context.chunkPool) {
  if (http)
    responses_ = std::make_unique<http::MessageFramer>(http::MessageKind::Response, static_cast<http::FramerListener &>(*this));
}

ShadowConnection::~ShadowConnection() = default;

void ShadowConnection::enqueue() {
  queued_ = true;
  target_.stats.queued++;
  context_.queuedReplays++;
}

void ShadowConnection::leaveQueue() {
  if (!queued_)
    return;
  queued_ = false;
  target_.stats.queued--;
  context_.queuedReplays--;
}

void ShadowConnection::leaveConnecting() {
  if (!connecting_)
    return;
  connecting_ = false;
  target_.stats.connecting--;
}

void ShadowConnection::start(uint64_t connectAtNs) {
  leaveQueue();
  started_ = true;
  target_.stats.opened++;
  target_.stats.active++;
  uint64_t now = connectAtNs ? realtimeNs() : 0;
  if (connectAtNs <= now) {
    connectNext(0);
    return;
  }
  // Paced: connect when the mirrored connection did, shifted by the pace delay (a replay already
  // later than that connects at once). Until then written bytes queue as for a connect in progress.
  auto self = shared_from_this();
  timer_.expires_after(std::chrono::nanoseconds(connectAtNs - now));
  timer_.async_wait([self](const error_code &timerEc) {
    if (timerEc || self->closed_)
      return;
    self->connectNext(0);
  });
}

// A new socket for one attempt. Running out of sockets (the open file limit, kernel memory) is
// not the shadow's fault: the replay is shed and counted, and the target is not backed off.
bool ShadowConnection::openSocket(const asio::ip::tcp::endpoint &endpoint) {
  closeSocket(true); // the previous address's attempt, if any, given up: reset (see connectNext)
  error_code ec;
  socket_.open(endpoint.protocol(), ec);
  if (ec) {
    int err = ec.value();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      static uint64_t lastWarnNs = 0;
      if (uint64_t now = monotonicNs(); now - lastWarnNs > 10'000'000'000ull) {
        lastWarnNs = now;
        spdlog::warn("replays shed: no socket ({}); raise the open file limit or set --max-replay-conns",
                     ec.message());
      }
      close(Outcome::ShedNoSocket, false);
    } else {
      close(Outcome::ConnectFailed, false);
    }
    return false;
  }
  if (uint32_t mark = context_.options.mark) // before connect: the SYN already carries it
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
  // Non-blocking from the start: one ioctl per replay (asio's async_connect set it once for the
  // connect and the writes once more). TCP_NODELAY waits for a write that Nagle could hold
  // (noDelayBeforeSend): a replay of one short write (churn) is spared the setsockopt.
  socket_.non_blocking(true, ec);
  const auto &sources = context_.options.sources;
  if (!sources.empty()) {
    // Bind the address only: the port is picked at connect(), per destination, so several
    // shadows (and several source addresses) each get the whole ephemeral port range.
    const auto &source = sources[context_.nextSource++ % sources.size()];
    if (source.is_v6() == endpoint.address().is_v6()) {
      int one = 1;
      ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      socket_.bind({source, 0}, ec);
    }
  }
  return true;
}

void ShadowConnection::connectNext(size_t index) {
  const auto endpoints = target_.target.endpoints; // a copy: a reload may re-resolve
  if (index == 0) {
    connectStartedAt_ = std::chrono::steady_clock::now();
    connecting_ = true;
    target_.stats.connecting++;
  }
  if (index >= endpoints.size()) {
    target_.connectFailed(context_.options.maxBackoff, connectStartedAt_);
    // Reset, not closed: a connect cut short by its timeout can complete in the kernel before the
    // socket is closed (the SYN retransmitted 3 s after the first is answered just as the 3 s
    // timeout fires), and a plain close would then hand the shadow an empty connection ending
    // in a FIN, as if a client had sent nothing (seen in overload_test B: 256 at once).
    close(Outcome::ConnectFailed, true);
    return;
  }
  if (!openSocket(endpoints[index]))
    return;

  auto self = shared_from_this();
  timer_.expires_after(context_.options.connectTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (timerEc || self->connected_ || self->closed_)
      return;
    // A loop running behind (a flood of new flows) may reach this timer before the completion
    // of a connect that did succeed in time: the socket is writable then, and the connect
    // handler, already queued, will take it. Only a connect still in progress is cut short.
    pollfd pending{self->socket_.native_handle(), POLLOUT, 0};
    if (::poll(&pending, 1, 0) == 1)
      return;
    error_code ignored;
    self->socket_.cancel(ignored); // the connect handler then tries the next address
  });
  // connect() and a wait for writability rather than async_connect, whose completion polls the
  // socket once more before reading SO_ERROR: one system call per replay less (docs/architecture.md,
  // "A replay's system calls": cheap next to the kernel's own work per connection, but free).
  const auto &endpoint = endpoints[index];
  if (::connect(socket_.native_handle(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 &&
      errno != EINPROGRESS) {
    error_code failed(errno, boost::system::system_category());
    asio::post(socket_.get_executor(), [self, index, failed] { self->onConnect(index, failed); });
    return;
  }
  socket_.async_wait(asio::ip::tcp::socket::wait_write, [self, index](const error_code &waitEc) {
    error_code ec = waitEc;
    int error = 0;
    socklen_t length = sizeof error;
    if (!ec && ::getsockopt(self->socket_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) != 0)
      error = errno;
    if (!ec && error != 0)
      ec = error_code(error, boost::system::system_category());
    self->onConnect(index, ec);
  });
}

void ShadowConnection::onConnect(size_t index, const error_code &connectEc) {
  if (closed_)
    return;
  timer_.cancel();
  if (connectEc) {
    connectNext(index + 1);
    return;
  }
  connected_ = true;
  target_.connectSucceeded();
  leaveConnecting();
  if (responses_)
    enableTimestamps(); // before the first write: OPT_ID counts bytes from here
  readResponses();
  writeMore();
  if (context_.slotFreed) // a replay waiting for a connect slot may take it
    context_.slotFreed();
}

// Nagle holds a short segment while earlier bytes are unacknowledged. A replay's first send is
// never held if it fits in one segment (536 bytes fit any path's MSS); any other send turns
// TCP_NODELAY on first, so a request is never held back waiting for the shadow's ACK.
void ShadowConnection::noDelayBeforeSend(size_t length) {
  if (noDelay_ || (writtenTotal_ == 0 && length <= 536))
    return;
  noDelay_ = true;
  int one = 1;
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void ShadowConnection::write(std::span<const uint8_t> bytes) {
  if (closed_ || finRequested_)
    return;
  const auto &options = context_.options;
  // A replay waiting in the queue gets only the first half of the shared budget: waiting uploads
  // must not take the room that open replays need to keep up (and be shed for it).
  size_t totalLimit = started_ ? options.maxBacklogTotal : options.maxBacklogTotal / 2;
  if (backlog_.size() + bytes.size() > options.maxBacklogPerConnection ||
      context_.backlogCharged() + bytes.size() > totalLimit) {
    close(Outcome::ShedBacklog, true);
    return;
  }
  if (writingActive_ || !connected_)
    target_.stats.writeStalls += writingActive_ ? 1 : 0;
  queuedTotal_ += bytes.size();
  // Nothing queued, no write in flight, no pacing hold: the bytes go straight to the kernel (the
  // socket is non-blocking) and only what it does not take now is copied into the backlog. A
  // shadow that keeps up costs no copy and no loop turn per write. Not a pooled connection's:
  // the requests of many client connections reach it in one turn, and sent as they come each
  // cost a send and its delivery to the shadow (bench/pipeline.sh's pooled row: 200,000 sends for
  // 200,000 requests, 1.6x the system time of writing each connection's turn at once).
  if (connected_ && !writingActive_ && backlog_.empty() && holds_.empty() && !pooled_) {
    const asio::const_buffer whole(bytes.data(), bytes.size());
    auto written = sendNow({&whole, 1}, bytes.size());
    if (!written)
      return;
    bytes = bytes.subspan(*written);
    if (bytes.empty())
      return;
  }
  backlog_.append(bytes);
  context_.stats.backlogBytes += bytes.size();
  if (!connected_ || writingActive_)
    return;
  // Past a segment's worth of bytes (an upload) waiting for the turn's end saves no send.
  constexpr size_t kCoalesceBytes = 64 << 10;
  if (!pooled_ || backlog_.size() >= kCoalesceBytes) {
    writeMore();
    return;
  }
  if (flushPosted_)
    return;
  flushPosted_ = true; // once the turn's requests are in: one send for all of them
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flushPosted_ = false;
    self->writeMore();
  });
}

// Writes what the kernel takes now, in place (the socket is non-blocking); only a full send buffer
// waits, for writability, with the stall watchdog armed: a shadow that is merely slow keeps its
// replay (each wait re-arms it), one that stopped reading loses it after stallTimeout. In place
// rather than Asio's async_write_some, whose completion runs a turn later: the send's TX timestamp
// is read right after it (noteWritten) instead of from a wake-up of its own, and a write that goes
// at once arms no timer.
void ShadowConnection::writeMore() {
  if (closed_ || writingActive_)
    return;
  for (;;) {
    if (backlog_.empty()) {
      timer_.cancel(); // nothing pending: no stall to watch (and a close grace or wait starts again)
      graceArmed_ = false;
      ackWaitArmed_ = false;
      maybeHalfClose();
      return;
    }
    // Pacing: only up to the first hold whose time has not come (to within kPaceSlackNs).
    size_t length = backlog_.size();
    uint64_t now = 0;
    while (!holds_.empty() && (now ? now : (now = realtimeNs())) + kPaceSlackNs >= holds_.front().ns)
      holds_.pop_front();
    if (!holds_.empty()) {
      uint64_t room = holds_.front().offset > writtenTotal_ ? holds_.front().offset - writtenTotal_ : 0;
      if (room == 0) {
        holdArmed_ = true;
        auto self = shared_from_this();
        timer_.expires_after(std::chrono::nanoseconds(holds_.front().ns - now));
        timer_.async_wait([self](const error_code &timerEc) {
          if (timerEc || self->closed_ || !self->holdArmed_)
            return;
          self->holdArmed_ = false;
          self->writeMore();
        });
        return;
      }
      length = std::min<uint64_t>(length, room);
    }
    holdArmed_ = false;
    // One gathered write of up to kMaxPieces chunks (4 MiB): the kernel takes what its send
    // buffer has room for.
    constexpr size_t kMaxPieces = 64;
    std::array<asio::const_buffer, kMaxPieces> pieces;
    size_t count = 0, gathered = 0;
    for (auto piece : backlog_.front(length, kMaxPieces)) {
      pieces[count++] = asio::const_buffer(piece.data(), piece.size());
      gathered += piece.size();
    }
    auto written = sendNow({pieces.data(), count}, gathered);
    if (!written)
      return;
    backlog_.consume(*written);
    context_.stats.backlogBytes -= *written;
    if (*written < gathered) // the send buffer is full: a second try would only find it so
      break;
  }
  writingActive_ = true;
  auto self = shared_from_this();
  timer_.expires_after(context_.options.stallTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc && self->writingActive_)
      self->close(Outcome::ShedStalled, true);
  });
  socket_.async_wait(asio::ip::tcp::socket::wait_write, [self](const error_code &ec) {
    self->writingActive_ = false;
    if (self->closed_)
      return;
    if (ec) {
      self->close(Outcome::WriteFailed, false);
      return;
    }
    self->writeMore();
  });
}

std::optional<size_t> ShadowConnection::sendNow(std::span<const asio::const_buffer> buffers, size_t length) {
  noDelayBeforeSend(length);
  error_code ec;
  size_t written = socket_.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    written = 0;
  } else if (ec) {
    close(Outcome::WriteFailed, false);
    return std::nullopt;
  }
  target_.stats.bytesOut += written;
  noteWritten(written);
  return written;
}

void ShadowConnection::holdUntil(uint64_t realtimeNs) {
  if (closed_ || finRequested_ || !responses_)
    return;
  constexpr size_t kMaxHolds = 1024; // past it the oldest go: pacing loosens, nothing else
  if (holds_.size() >= kMaxHolds)
    holds_.pop_front();
  if (!holds_.empty() && holds_.back().offset == queuedTotal_)
    holds_.back().ns = std::max(holds_.back().ns, realtimeNs);
  else
    holds_.push_back({queuedTotal_, realtimeNs});
}

size_t ShadowConnection::unansweredDue(uint64_t nowNs) const {
  uint64_t heldFrom = UINT64_MAX; // the stream offset from which bytes wait for a later instant
  for (const auto &hold : holds_)
    if (hold.ns > nowNs) {
      heldFrom = hold.offset;
      break;
    }
  // Nothing held (no pacing, or all of it passed): no walk. bench/pipeline.sh's pooled row, not
  // paced: this function took 3.0 % of its profile with the walk, 1.4 % without.
  if (heldFrom == UINT64_MAX)
    return pending_.size();
  size_t due = 0;
  for (const auto &p : pending_) {
    if (p.endOffset > heldFrom)
      break;
    due++;
  }
  return due;
}

void ShadowConnection::finish() {
  finRequested_ = true;
  maybeHalfClose();
}

// Long enough for a dropped segment's first two retransmissions (about 200 and 600 ms after it
// was sent); a replay waiting longer holds a socket and a place in the shadow's concurrency window
// (ConcurrencyWindow) that new replays need: measured under saturated churn, waits of up to the
// drain timeout (10 s) had the window shed 84 % of the connections.
constexpr std::chrono::milliseconds kMaxAckWait{1000};

void ShadowConnection::maybeHalfClose() {
  if (closed_ || !connected_ || !finRequested_ || finSent_ || writingActive_ || !backlog_.empty())
    return;
  // The primary's server closed first: let the shadow do so too (ReplayOptions::closeGrace); its
  // FIN ends the wait early (readResponses calls back here). A client that closed first is
  // replayed closing first.
  if (closeOrderServerFirst_ && !shadowClosed_ && !graceOver_ && context_.options.closeGrace.count() > 0) {
    if (graceArmed_)
      return;
    graceArmed_ = true;
    auto self = shared_from_this();
    timer_.expires_after(context_.options.closeGrace);
    timer_.async_wait([self](const error_code &timerEc) {
      if (timerEc || self->closed_ || !self->graceArmed_)
        return;
      self->graceArmed_ = false;
      self->graceOver_ = true;
      self->maybeHalfClose();
    });
    return;
  }
  graceArmed_ = false;
  // Our FIN never goes out on its own ahead of bytes the shadow has not acknowledged. A shadow
  // whose listen queue overflowed answers with SYN cookies and drops our handshake's ACK and
  // first data until a segment comes with the sequence right after the handshake: a lone FIN
  // sent before the data's retransmission carries a later one, fails the cookie check and is
  // answered with a RST; the retransmitted data then opens the connection, the shadow reads every
  // byte, and our reset socket resets it (seen in the catch-up burst of overload_test B, where it
  // was counted write_failed while the shadow had the whole stream).
  if (ackWaited_ < kMaxAckWait && !everythingAcknowledged()) {
    awaitAcknowledgement();
    return;
  }
  ackWaitArmed_ = false;
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  finSent_ = true;
  if (shadowClosed_) { // it closed first: took everything only if it acknowledges all of it
    confirmTaken(std::chrono::milliseconds(1));
    return;
  }
  // The shadow's answer is read and thrown away; don't wait for it forever.
  auto self = shared_from_this();
  timer_.expires_after(context_.options.drainTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc) // everything was written, but the shadow never said it read it all
      self->close(Outcome::Unconfirmed, false);
  });
}

void ShadowConnection::awaitAcknowledgement() {
  if (ackWaitArmed_)
    return;
  ackWaitArmed_ = true;
  // After 1, 2, 4, 8... ms: an acknowledgement is usually a round trip away, a dropped segment's
  // retransmission 200 ms or more (then 400, 800...). Doubling keeps a replay waiting on a
  // saturated shadow to about ten checks: re-checking every 64 ms doubled the agent's CPU in
  // bench/churn.sh's saturated run, where thousands of replays wait at once.
  auto step = std::max(ackWaited_, std::chrono::milliseconds(1));
  ackWaited_ += step;
  auto self = shared_from_this();
  timer_.expires_after(step);
  timer_.async_wait([self](const error_code &timerEc) {
    if (timerEc || self->closed_ || !self->ackWaitArmed_)
      return;
    self->ackWaitArmed_ = false;
    self->maybeHalfClose(); // past kMaxAckWait the FIN goes; the drain timeout after it decides
  });
}

// Linux closes a socket that still has unread bytes with a RST, never a FIN. So a FIN from the
// shadow whose sender had also acknowledged every byte we wrote (and our FIN) proves its
// application read them all; a shadow that closed before our bytes arrived (a server shedding
// idle connections, measured under churn: nginx past worker_connections) answers them with a
// RST instead. Without this check such replays counted `completed` though the shadow never saw
// the request.
bool ShadowConnection::everythingAcknowledged() {
  int unacknowledged = 0; // SIOCOUTQ: bytes (and FIN) sent but not acknowledged
  return ::ioctl(socket_.native_handle(), SIOCOUTQ, &unacknowledged) == 0 && unacknowledged == 0;
}

void ShadowConnection::confirmTaken(std::chrono::milliseconds wait) {
  if (closed_)
    return;
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error != 0) {
    close(Outcome::WriteFailed, false); // reset: it closed before taking everything
    return;
  }
  if (everythingAcknowledged()) {
    close(Outcome::Completed, false);
    return;
  }
  if (wait > context_.options.drainTimeout) {
    close(Outcome::Unconfirmed, false);
    return;
  }
  auto self = shared_from_this();
  timer_.expires_after(wait);
  timer_.async_wait([self, wait](const error_code &timerEc) {
    if (!timerEc)
      self->confirmTaken(wait * 2);
  });
}

void ShadowConnection::enableTimestamps() {
  unsigned flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                   SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
  timestamps_ = ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0;
}

// TX timestamps wait on the socket's error queue (they wake the loop like readable data does).
// Each send that the kernel took bytes from brings one (OPT_ID: for its last byte), so the queue is
// read only while some are still due, and not to its EAGAIN: a read that finds nothing is a system
// call per wake-up for nothing (measured under --http-pool churn: 4.2 recvmsg per request). Every
// kFullDrainEvery wake-ups it is read to the end anyway (and the count reset), so a count that went
// wrong (a timestamp the kernel never made, or made twice) costs at most that many turns, never a
// growing queue. `turn`: a wake-up (counts toward the full drain), not a read right after a send.
void ShadowConnection::drainTimestamps(bool turn) {
  constexpr unsigned kFullDrainEvery = 16;
  if (!timestamps_)
    return;
  bool full = turn && ++drainTurns_ % kFullDrainEvery == 0;
  if (stampsDue_ == 0 && !full)
    return;
  for (int i = 0; i < 64; i++) { // bounded: a turn never spins
    alignas(cmsghdr) char control[256];
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(socket_.native_handle(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (full)
        stampsDue_ = 0; // none there after 16 turns: whatever is still counted is not coming
      return;           // (otherwise it may still come: a NIC stamps when its driver takes it)
    }
    if (stampsDue_ > 0)
      stampsDue_--;
    uint64_t ns = softwareTimestamp(msg);
    for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6)
        continue;
      sock_extended_err err;
      std::memcpy(&err, CMSG_DATA(c), sizeof err);
      if (err.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && err.ee_info == SCM_TSTAMP_SND && ns)
        noteTxTimestamp(err.ee_data, ns);
    }
    if (stampsDue_ == 0 && !full)
      return;
  }
}

// `key`: the offset (mod 2^32) of the last byte of the send that left at `ns`.
void ShadowConnection::noteTxTimestamp(uint32_t key, uint64_t ns) {
  uint64_t last = (writtenTotal_ & ~0xffffffffull) | key; // the 64-bit offset nearest below what was written
  if (last >= writtenTotal_ && last >= (1ull << 32))
    last -= 1ull << 32;
  lastStamp_ = {last + 1, ns};
  for (auto &p : pending_) {
    if (p.endOffset == 0 || p.endOffset - 1 > last)
      break;
    if (!p.sentNs)
      p.sentNs = ns;
  }
}

size_t ShadowConnection::receive(error_code &ec) {
  drainTimestamps();
  alignas(cmsghdr) char control[256];
  iovec iov{context_.readBuffer.data(), context_.readBuffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = timestamps_ ? sizeof control : 0;
  // Nothing frames the shadow's answers (TCP mode): MSG_TRUNC makes TCP drop them from the
  // receive queue without copying them here (the count is all that is kept).
  ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | (responses_ ? 0 : MSG_TRUNC));
  if (n < 0) {
    ec = errno == EAGAIN || errno == EWOULDBLOCK ? error_code(asio::error::would_block)
                                                 : error_code(errno, boost::system::system_category());
    return 0;
  }
  if (n == 0) {
    ec = asio::error::eof;
    return 0;
  }
  uint64_t ns = timestamps_ ? softwareTimestamp(msg) : 0;
  rxNs_ = ns ? ns : realtimeNs();
  return static_cast<size_t>(n);
}

// Waits for readability, then reads into the one buffer all replays share (replay_context.h):
// the bytes are consumed (framed or counted) before the handler returns.
void ShadowConnection::readResponses() {
  auto self = shared_from_this();
  socket_.async_wait(asio::ip::tcp::socket::wait_read, [self](const error_code &waitEc) {
    if (self->closed_)
      return;
    error_code ec = waitEc;
    size_t n = 0;
    if (!ec) {
      n = self->receive(ec);
      if (ec == asio::error::would_block) {
        self->readResponses();
        return;
      }
    }
    if (ec) {
      if (self->responses_ && ec == asio::error::eof)
        self->responses_->finish(); // ends a close-delimited response
      if (self->closed_)
        return;
      // The shadow closed or reset. Everything written, our FIN sent and the shadow's FIN back:
      // a success. A reset, even after our FIN, means bytes were still unread in the shadow's
      // receive queue (Linux resets on close only then): it did not take the whole stream.
      if (ec != asio::error::eof) {
        self->close(Outcome::WriteFailed, false);
        return;
      }
      self->shadowClosed_ = true;
      if (self->finSent_)
        self->confirmTaken(std::chrono::milliseconds(1));
      else // our FIN may have been waiting for this (closeGrace): it goes now
        self->maybeHalfClose();
      // EOF before our FIN: the shadow half-closed (or closed); keep writing until it resets,
      // and confirm at our FIN what it took
      return;
    }
    self->target_.stats.bytesIn += n;
    if (self->responses_)
      self->responses_->feed({self->context_.readBuffer.data(), n});
    if (!self->closed_)
      self->readResponses();
  });
}

void ShadowConnection::endRequest(const ExchangePtr &exchange) {
  if (!responses_ || closed_)
    return;
  // A shadow that reads but never answers must not grow this without bound (the backlog limit
  // only bounds bytes not yet written). Dropping one request would pair every later response
  // with the wrong request, so this replay stops comparing altogether (counted); it goes on.
  constexpr size_t kMaxPending = 1024;
  if (pending_.size() >= kMaxPending) {
    if (context_.observer)
      context_.observer->onComparisonsAbandoned(pending_.size());
    pending_.clear();
    responses_.reset();
    return;
  }
  // Its last byte may have left already, its TX timestamp read right after the send (noteWritten):
  // the send that carried it is the last one stamped, as nothing after it was written yet.
  uint64_t sentNs = lastStamp_.end >= queuedTotal_ && queuedTotal_ ? lastStamp_.ns : 0;
  pending_.push_back({exchange, queuedTotal_, sentNs, 0});
  responses_->expectResponseTo(exchange->method);
  noteWritten(0); // already written (an empty body after an earlier write)?
}

void ShadowConnection::noteWritten(size_t bytes) {
  writtenTotal_ += bytes;
  if (bytes && timestamps_) {
    // This send's TX timestamp. Loopback and veth (and most NICs' drivers, when the window is
    // open) stamp within the send itself, so it is read now: read later, from the wake-up it
    // causes, it cost that wake-up, a read of no data and Asio's re-arm of the socket (measured
    // under --http-pool churn: 3.0 recvmsg and 1.7 epoll_ctl per request). epoll reports a socket
    // only if it is still ready when the loop asks, so once read it wakes nothing.
    stampsDue_++;
    drainTimestamps(false);
  }
  uint64_t now = 0;
  for (auto &p : pending_) {
    if (p.endOffset > writtenTotal_)
      break;
    if (!p.wroteNs)
      p.wroteNs = now ? now : (now = realtimeNs());
  }
}

void ShadowConnection::onMessageBegin() {
  responseBeganNs_ = rxNs_;
}

void ShadowConnection::onHead(const http::MessageHead &head, std::span<const uint8_t>) {
  responseCode_ = head.status;
  interim_ = head.status >= 100 && head.status < 200 && head.status != 101; // 100-continue etc.
  if (!interim_ && (!head.keepAlive || head.upgrade))
    endsAfterAnswer_ = true;
  body_.reset();
  if (!interim_ && !pending_.empty() && pending_.front().exchange->bodyBudget) {
    const http::Header *type = head.find("Content-Type");
    body_ = std::make_unique<compare::BodyCollector>(pending_.front().exchange->bodyBudget,
                                                     type && compare::isJsonContentType(type->value));
  }
}

void ShadowConnection::onBodyContent(std::span<const uint8_t> content) {
  if (body_)
    body_->append(content);
}

void ShadowConnection::onMessageEnd() {
  if (interim_)
    return;
  uint64_t now = rxNs_;
  compare::BodyDigestPtr body = body_ ? body_->finish() : nullptr;
  body_.reset();
  if (pending_.empty()) {
    if (context_.observer) // a response to nothing we sent: not compared
      context_.observer->onShadowUnpaired();
  } else {
    drainTimestamps(); // the request's TX timestamp may have come with this very wake-up
    const Pending &p = pending_.front();
    uint64_t sent = p.sentNs ? p.sentNs : p.wroteNs;
    uint64_t start = std::max(sent ? sent : responseBeganNs_, lastResponseEndNs_);
    auto since = [start](uint64_t t) { return t > start ? t - start : 0; };
    answerPending(responseCode_, since(responseBeganNs_), since(now), std::move(body));
  }
  lastResponseEndNs_ = now;
  // Every request answered after our FIN: done, no need to wait for the shadow to close.
  if (finSent_ && pending_.empty() && !closed_)
    close(Outcome::Completed, false);
}

void ShadowConnection::answerPending(unsigned code, uint64_t firstByteNs, uint64_t lastByteNs,
                                     compare::BodyDigestPtr body) {
  auto exchange = std::move(pending_.front().exchange);
  pending_.pop_front();
  if (context_.observer)
    context_.observer->onShadowResponse(*exchange, {target_.index, code, firstByteNs, lastByteNs, std::move(body)});
}

void ShadowConnection::abort() { close(Outcome::Aborted, true); }

void ShadowConnection::close(Outcome outcome, bool reset) {
  if (closed_)
    return;
  closed_ = true;
  context_.stats.backlogBytes -= backlog_.size(); // no write in flight reads it (writeMore writes in place)
  backlog_.clear();
  // Requests this replay will never get an answer to. When the user's own connection died
  // (aborted) there is nothing to compare; otherwise the shadow failed them: "no response". A
  // pooled connection's requests are other clients' too: always "no response".
  auto &stats = target_.stats;
  if (!started_) { // left the replay queue without a connection: never opened, nothing to answer
    pending_.clear();
    leaveQueue();
    stats.shedLimit++;
    return;
  }
  while (!pending_.empty()) {
    if (outcome == Outcome::Aborted && !pooled_) {
      pending_.clear();
      break;
    }
    answerPending(0, 0, 0, nullptr);
  }
  stats.active--;
  // What the shadow's own capacity says (ConcurrencyWindow): a replay taken whole, or one it
  // refused (closed or reset unread, stopped reading, fell a backlog behind).
  if (outcome == Outcome::Completed)
    target_.replayTaken();
  else if (outcome == Outcome::WriteFailed || outcome == Outcome::ShedStalled || outcome == Outcome::ShedBacklog)
    target_.replayRefused();
  switch (outcome) {
  case Outcome::Completed: stats.completed++; break;
  case Outcome::Unconfirmed: stats.unconfirmed++; break;
  case Outcome::Aborted: stats.aborted++; break;
  case Outcome::ShedBacklog: stats.shedBacklog++; break;
  case Outcome::ShedStalled: stats.shedStalled++; break;
  case Outcome::ShedNoSocket: stats.shedNoSocket++; break;
  case Outcome::ConnectFailed: stats.connectFailed++; break;
  case Outcome::WriteFailed: stats.writeFailed++; break;
  }
  timer_.cancel();
  leaveConnecting();
  // A reset (abort, shed) tells the shadow the stream is not whole. A completed replay needs
  // nothing more: both FINs went and every byte was acknowledged (confirmTaken), so the socket
  // has already left the connection (to TIME_WAIT when our FIN went first, as the original
  // client's did, or closed when the shadow's did); lingering or not changes nothing there.
  closeSocket(reset);
  if (context_.slotFreed) // a replay waiting in the queue may take the place
    context_.slotFreed();
}

void ShadowConnection::closeSocket(bool reset) {
  error_code ec;
  if (reset && socket_.is_open())
    socket_.set_option(asio::socket_base::linger(true, 0), ec); // close() then sends RST
  socket_.close(ec);
}

} // namespace shadowtap::replay
