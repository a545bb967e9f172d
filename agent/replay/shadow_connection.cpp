// SPDX-License-Identifier: Apache-2.0
#include "replay/shadow_connection.h"

#include "replay/replayer.h"

#include <boost/asio/write.hpp>
#include <sys/socket.h>

namespace shadowtap::replay {

namespace asio = boost::asio;
using boost::system::error_code;

ShadowConnection::ShadowConnection(Replayer &owner, size_t target)
    : owner_(owner), target_(target), socket_(owner.io_), timer_(owner.io_) {}

ShadowConnection::~ShadowConnection() = default;

void ShadowConnection::start() {
  auto &stats = owner_.stats_[target_];
  stats.opened++;
  stats.active++;
  connectNext(0);
}

void ShadowConnection::connectNext(size_t index) {
  const auto endpoints = owner_.targets_[target_].endpoints; // a copy: a reload may re-resolve
  if (index >= endpoints.size()) {
    owner_.connectFailed(target_);
    close(Outcome::ConnectFailed, false);
    return;
  }
  error_code ec;
  socket_.close(ec);
  socket_.open(endpoints[index].protocol(), ec);
  if (ec) {
    connectNext(index + 1);
    return;
  }
  if (uint32_t mark = owner_.options_.mark) // before connect: the SYN already carries it
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);

  auto self = shared_from_this();
  timer_.expires_after(owner_.options_.connectTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc && !self->connected_ && !self->closed_) {
      error_code ignored;
      self->socket_.cancel(ignored); // the connect handler then tries the next address
    }
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
    self->owner_.connectSucceeded(self->target_);
    self->readAndDiscard();
    self->writeMore();
  });
}

void ShadowConnection::write(std::span<const uint8_t> bytes) {
  if (closed_ || finRequested_)
    return;
  const auto &options = owner_.options_;
  if (queued_.size() + writing_.size() + bytes.size() > options.maxBacklogPerConnection ||
      owner_.backlog_ + bytes.size() > options.maxBacklogTotal) {
    close(Outcome::ShedBacklog, true);
    return;
  }
  if (writingActive_ || !connected_)
    owner_.stats_[target_].writeStalls += writingActive_ ? 1 : 0;
  queued_.insert(queued_.end(), bytes.begin(), bytes.end());
  owner_.backlog_ += bytes.size();
  if (connected_ && !writingActive_)
    writeMore();
}

// One write_some at a time, so that each step of progress re-arms the stall watchdog: a shadow
// that is merely slow keeps its replay, one that stopped reading loses it after stallTimeout.
void ShadowConnection::writeMore() {
  if (closed_ || writingActive_)
    return;
  if (writtenOfWriting_ == writing_.size()) {
    owner_.backlog_ -= writing_.size();
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
  timer_.expires_after(owner_.options_.stallTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc && self->writingActive_)
      self->close(Outcome::ShedStalled, true);
  });
  socket_.async_write_some(
      asio::buffer(writing_.data() + writtenOfWriting_, writing_.size() - writtenOfWriting_),
      [self](const error_code &ec, size_t written) {
        self->writingActive_ = false;
        self->writtenOfWriting_ += written;
        self->owner_.stats_[self->target_].bytesOut += written;
        if (self->closed_) {
          self->owner_.backlog_ -= self->writing_.size();
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
  // The shadow's answer is read and thrown away; don't wait for it forever.
  auto self = shared_from_this();
  timer_.expires_after(owner_.options_.drainTimeout);
  timer_.async_wait([self](const error_code &timerEc) {
    if (!timerEc)
      self->close(Outcome::Completed, false);
  });
}

void ShadowConnection::readAndDiscard() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(readBuf_), [self](const error_code &ec, size_t n) {
    if (self->closed_)
      return;
    if (ec) {
      // The shadow closed or reset. Everything written and our FIN sent: that is a success.
      if (self->finSent_)
        self->close(Outcome::Completed, false);
      else if (ec != asio::error::eof)
        self->close(Outcome::WriteFailed, false);
      return; // EOF before our FIN: the shadow half-closed; keep writing until it resets
    }
    self->owner_.stats_[self->target_].bytesIn += n;
    self->readAndDiscard();
  });
}

void ShadowConnection::abort() { close(Outcome::Aborted, true); }

void ShadowConnection::close(Outcome outcome, bool reset) {
  if (closed_)
    return;
  closed_ = true;
  owner_.backlog_ -= queued_.size();
  queued_.clear();
  if (!writingActive_) { // otherwise the write handler releases writing_ when it is called back
    owner_.backlog_ -= writing_.size();
    writing_.clear();
  }
  auto &stats = owner_.stats_[target_];
  stats.active--;
  switch (outcome) {
  case Outcome::Completed: stats.completed++; break;
  case Outcome::Aborted: stats.aborted++; break;
  case Outcome::ShedBacklog: stats.shedBacklog++; break;
  case Outcome::ShedStalled: stats.shedStalled++; break;
  case Outcome::ConnectFailed: stats.connectFailed++; break;
  case Outcome::WriteFailed: stats.writeFailed++; break;
  }
  error_code ec;
  timer_.cancel();
  if (reset && socket_.is_open())
    socket_.set_option(asio::socket_base::linger(true, 0), ec); // close() then sends RST
  socket_.close(ec);
}

} // namespace shadowtap::replay
