// SPDX-License-Identifier: Apache-2.0
#include "replay/shadow_connection.h"

#include "common/clock.h"

#include <boost/asio/write.hpp>
#include <cerrno>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 // linux/in.h; glibc's netinet/in.h may lack it
#endif

namespace shadowtap::replay {

namespace asio = boost::asio;
using boost::system::error_code;

ShadowConnection::ShadowConnection(ReplayContext &context, TargetState &target, bool http)
    : context_(context), target_(target), socket_(context.io), timer_(context.io) {
  if (http)
    responses_ = std::make_unique<http::MessageFramer>(http::MessageKind::Response, static_cast<http::FramerListener &>(*this));
}

ShadowConnection::~ShadowConnection() = default;

void ShadowConnection::start() {
  target_.stats.opened++;
  target_.stats.active++;
  connectNext(0);
}

// A new socket for one attempt. Running out of sockets (the open file limit, kernel memory) is
// not the shadow's fault: the replay is shed and counted, and the target is not backed off.
bool ShadowConnection::openSocket(const asio::ip::tcp::endpoint &endpoint) {
  error_code ec;
  socket_.close(ec);
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
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
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
  if (index >= endpoints.size()) {
    target_.connectFailed(context_.options.maxBackoff);
    close(Outcome::ConnectFailed, false);
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
  socket_.async_connect(endpoints[index], [self, index](const error_code &connectEc) {
    if (self->closed_)
      return;
    self->timer_.cancel();
    if (connectEc) {
      self->connectNext(index + 1);
      return;
    }
    self->connected_ = true;
    self->target_.connectSucceeded();
    error_code ignored;
    self->socket_.non_blocking(true, ignored);
    self->readResponses();
    self->writeMore();
  });
}

void ShadowConnection::write(std::span<const uint8_t> bytes) {
  if (closed_ || finRequested_)
    return;
  const auto &options = context_.options;
  if (queued_.size() + writing_.size() + bytes.size() > options.maxBacklogPerConnection ||
      context_.stats.backlogBytes + bytes.size() > options.maxBacklogTotal) {
    close(Outcome::ShedBacklog, true);
    return;
  }
  if (writingActive_ || !connected_)
    target_.stats.writeStalls += writingActive_ ? 1 : 0;
  queued_.insert(queued_.end(), bytes.begin(), bytes.end());
  queuedTotal_ += bytes.size();
  context_.stats.backlogBytes += bytes.size();
  if (connected_ && !writingActive_)
    writeMore();
}

// One write_some at a time, so that each step of progress re-arms the stall watchdog: a shadow
// that is merely slow keeps its replay, one that stopped reading loses it after stallTimeout.
void ShadowConnection::writeMore() {
  if (closed_ || writingActive_)
    return;
  if (writtenOfWriting_ == writing_.size()) {
    context_.stats.backlogBytes -= writing_.size();
    writing_.clear();
    writtenOfWriting_ = 0;
    if (queued_.empty()) {
      timer_.cancel(); // nothing pending: no stall to watch
      maybeHalfClose();
      return;
    }
    writing_.swap(queued_);
  }
  writingActive_ = true;
  auto self = shared_from_this();
  timer_.expires_after(context_.options.stallTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc && self->writingActive_)
      self->close(Outcome::ShedStalled, true);
  });
  socket_.async_write_some(
      asio::buffer(writing_.data() + writtenOfWriting_, writing_.size() - writtenOfWriting_),
      [self](const error_code &ec, size_t written) {
        self->writingActive_ = false;
        self->writtenOfWriting_ += written;
        self->target_.stats.bytesOut += written;
        self->noteWritten(written);
        if (self->closed_) {
          self->context_.stats.backlogBytes -= self->writing_.size();
          self->writing_.clear();
          return;
        }
        if (ec) {
          self->close(Outcome::WriteFailed, false);
          return;
        }
        self->writeMore();
      });
}

void ShadowConnection::finish() {
  finRequested_ = true;
  maybeHalfClose();
}

void ShadowConnection::maybeHalfClose() {
  if (closed_ || !connected_ || !finRequested_ || finSent_ || writingActive_ || !queued_.empty() ||
      !writing_.empty())
    return;
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  finSent_ = true;
  if (shadowClosed_) { // it closed first and took everything: both FINs are out, nothing to wait for
    close(Outcome::Completed, false);
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
      n = self->socket_.read_some(asio::buffer(self->context_.readBuffer), ec);
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
      if (self->finSent_)
        self->close(ec == asio::error::eof ? Outcome::Completed : Outcome::WriteFailed, false);
      else if (ec != asio::error::eof)
        self->close(Outcome::WriteFailed, false);
      self->shadowClosed_ = true; // EOF before our FIN: the shadow half-closed; keep writing until
      return;                     // it resets, and complete at our FIN if it never does
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
  pending_.push_back({exchange, queuedTotal_, 0});
  responses_->expectResponseTo(exchange->method);
  noteWritten(0); // already written (an empty body after an earlier write)?
}

void ShadowConnection::noteWritten(size_t bytes) {
  writtenTotal_ += bytes;
  uint64_t now = 0;
  for (auto &p : pending_) {
    if (p.endOffset > writtenTotal_)
      break;
    if (!p.writtenAtNs)
      p.writtenAtNs = now ? now : (now = monotonicNs());
  }
}

void ShadowConnection::onMessageBegin() { responseBeganNs_ = monotonicNs(); }

void ShadowConnection::onHead(const http::MessageHead &head, std::span<const uint8_t>) {
  responseCode_ = head.status;
  interim_ = head.status >= 100 && head.status < 200 && head.status != 101; // 100-continue etc.
}

void ShadowConnection::onMessageEnd() {
  if (interim_)
    return;
  uint64_t now = monotonicNs();
  if (pending_.empty()) {
    if (context_.observer) // a response to nothing we sent: not compared
      context_.observer->onShadowUnpaired();
  } else {
    uint64_t start = std::max(pending_.front().writtenAtNs ? pending_.front().writtenAtNs : responseBeganNs_,
                              lastResponseEndNs_);
    auto since = [start](uint64_t t) { return t > start ? t - start : 0; };
    answerPending(responseCode_, since(responseBeganNs_), since(now));
  }
  lastResponseEndNs_ = now;
  // Every request answered after our FIN: done, no need to wait for the shadow to close.
  if (finSent_ && pending_.empty() && !closed_)
    close(Outcome::Completed, false);
}

void ShadowConnection::answerPending(unsigned code, uint64_t firstByteNs, uint64_t lastByteNs) {
  auto exchange = std::move(pending_.front().exchange);
  pending_.pop_front();
  if (context_.observer)
    context_.observer->onShadowResponse(*exchange, {target_.index, code, firstByteNs, lastByteNs});
}

void ShadowConnection::abort() { close(Outcome::Aborted, true); }

void ShadowConnection::close(Outcome outcome, bool reset) {
  if (closed_)
    return;
  closed_ = true;
  context_.stats.backlogBytes -= queued_.size();
  queued_.clear();
  if (!writingActive_) { // otherwise the write handler releases writing_ when it is called back
    context_.stats.backlogBytes -= writing_.size();
    writing_.clear();
  }
  // Requests this replay will never get an answer to. When the user's own connection died
  // (aborted) there is nothing to compare; otherwise the shadow failed them: "no response".
  while (!pending_.empty()) {
    if (outcome == Outcome::Aborted) {
      pending_.clear();
      break;
    }
    answerPending(0, 0, 0);
  }
  auto &stats = target_.stats;
  stats.active--;
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
  error_code ec;
  timer_.cancel();
  // A reset (abort, shed) tells the shadow the stream is not whole. A completed replay has
  // exchanged everything already: closing it without lingering keeps the agent's side out of
  // TIME_WAIT (and FIN_WAIT2), whose entries every later connect() to the same shadow would
  // have to walk past — under connection churn that search was most of the agent's CPU.
  if ((reset || outcome == Outcome::Completed) && socket_.is_open())
    socket_.set_option(asio::socket_base::linger(true, 0), ec); // close() then sends RST
  socket_.close(ec);
}

} // namespace shadowtap::replay
