// SPDX-License-Identifier: Apache-2.0
#include "capture/ring_reader.h"

#include "common/error.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>

namespace shadowtap {

RingReader::RingReader(int ringFd, Handler handler) : handler_(std::move(handler)) {
  ring_ = ring_buffer__new(ringFd, &RingReader::onRecord, this, nullptr);
  if (!ring_)
    throwErrno("failed to open the ring buffer", errno);
}

RingReader::~RingReader() { ring_buffer__free(ring_); }

int RingReader::epollFd() const { return ring_buffer__epoll_fd(ring_); }

void RingReader::drain() { ring_buffer__consume(ring_); }

int RingReader::onRecord(void *ctx, void *data, size_t size) {
  auto *self = static_cast<RingReader *>(ctx);
  st_pkt_meta meta;
  if (size < sizeof(meta)) {
    self->stats_.malformed++;
    return 0;
  }
  std::memcpy(&meta, data, sizeof(meta));
  if (meta.cap_len > size - sizeof(meta) || meta.cap_len > ST_MAX_SNAPLEN) {
    self->stats_.malformed++;
    return 0;
  }
  self->stats_.records++;
  self->stats_.bytes += meta.cap_len;
  self->handler_(meta, {static_cast<const uint8_t *>(data) + sizeof(meta), meta.cap_len});
  return 0;
}

} // namespace shadowtap
