// SPDX-License-Identifier: Apache-2.0
#include "capture/ring_reader.h"

#include "common/error.h"
#include "common/touch_pages.h"

#include <bpf/bpf.h>
#include <cerrno>
#include <cstring>
#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

namespace shadowtap {

namespace {
uint64_t loadAcquire(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
uint32_t loadAcquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
} // namespace

RingReader::RingReader(int ringFd, Handler handler)
    : ringFd_(ringFd), pageSize_(static_cast<size_t>(sysconf(_SC_PAGESIZE))), handler_(std::move(handler)) {
  bpf_map_info info{};
  uint32_t infoLen = sizeof info;
  if (bpf_obj_get_info_by_fd(ringFd, &info, &infoLen) != 0)
    throwErrno("failed to read the ring buffer's map info", errno);
  if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
      (info.max_entries & (info.max_entries - 1)) != 0)
    throw Error("the ring buffer map is not a BPF ring buffer of a power-of-two size");
  size_ = info.max_entries;
  void *consumer = mmap(nullptr, pageSize_, PROT_READ | PROT_WRITE, MAP_SHARED, ringFd, 0);
  if (consumer == MAP_FAILED)
    throwErrno("failed to map the ring buffer's consumer page", errno);
  consumerPos_ = static_cast<uint64_t *>(consumer);
  // The producer page, then the data area twice (the kernel maps it so).
  void *producer = mmap(nullptr, pageSize_ + 2 * size_, PROT_READ, MAP_SHARED, ringFd, static_cast<off_t>(pageSize_));
  if (producer == MAP_FAILED) {
    int e = errno;
    munmap(consumer, pageSize_);
    throwErrno("failed to map the ring buffer's data", e);
  }
  producerPos_ = static_cast<const uint64_t *>(producer);
  data_ = static_cast<const uint8_t *>(producer) + pageSize_;
  (void)touchPages(producer, pageSize_ + 2 * size_); // as the capture ring (common/touch_pages.h)
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (epollFd_ < 0 || epoll_ctl(epollFd_, EPOLL_CTL_ADD, ringFd, &ev) != 0) {
    int e = errno;
    if (epollFd_ >= 0)
      close(epollFd_);
    munmap(consumer, pageSize_);
    munmap(producer, pageSize_ + 2 * size_);
    throwErrno("failed to watch the ring buffer", e);
  }
}

RingReader::~RingReader() {
  close(epollFd_);
  munmap(consumerPos_, pageSize_);
  munmap(const_cast<uint64_t *>(producerPos_), pageSize_ + 2 * size_);
}

bool RingReader::drain(size_t maxBytes) {
  uint64_t consumer = loadAcquire(consumerPos_);
  size_t consumed = 0;
  while (true) {
    uint64_t producer = loadAcquire(producerPos_);
    if (consumer >= producer)
      return false;
    if (consumed >= maxBytes)
      return true;
    // Each record: a 32-bit length word (with the busy and discard bits), 4 bytes of page offset,
    // then the sample; records are 8-byte aligned.
    const auto *header = reinterpret_cast<const uint32_t *>(data_ + (consumer & (size_ - 1)));
    uint32_t word = loadAcquire(header);
    if (word & BPF_RINGBUF_BUSY_BIT)
      return false; // reserved, not submitted yet: its wake-up will come when it is
    uint32_t length = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    uint64_t span = (static_cast<uint64_t>(length) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
    if (!(word & BPF_RINGBUF_DISCARD_BIT))
      onRecord(reinterpret_cast<const uint8_t *>(header) + BPF_RINGBUF_HDR_SZ, length);
    consumer += span;
    consumed += span;
    __atomic_store_n(consumerPos_, consumer, __ATOMIC_RELEASE);
  }
}

double RingReader::consumed() const {
  return static_cast<double>(loadAcquire(consumerPos_)) / static_cast<double>(size_);
}

double RingReader::occupancy() const {
  uint64_t consumer = loadAcquire(consumerPos_);
  uint64_t producer = loadAcquire(producerPos_);
  return producer > consumer ? static_cast<double>(producer - consumer) / static_cast<double>(size_) : 0.0;
}

bool RingReader::split(const uint8_t *data, size_t size, st_pkt_meta &meta, std::span<const uint8_t> &frame) {
  if (size < sizeof(meta))
    return false;
  std::memcpy(&meta, data, sizeof(meta));
  if (meta.cap_len > size - sizeof(meta) || meta.cap_len > ST_MAX_SNAPLEN)
    return false;
  frame = {data + sizeof(meta), meta.cap_len};
  return true;
}

void RingReader::onRecord(const uint8_t *data, size_t size) {
  st_pkt_meta meta;
  std::span<const uint8_t> frame;
  if (!split(data, size, meta, frame)) {
    stats_.malformed++;
    return;
  }
  stats_.records++;
  stats_.bytes += meta.cap_len;
  handler_(meta, frame);
}

void RingReader::peek(const Handler &onRecord, size_t maxBytes) const {
  uint64_t producer = loadAcquire(producerPos_);
  uint64_t from = loadAcquire(consumerPos_);
  for (uint64_t at = from; at < producer && at - from < maxBytes;) {
    const auto *header = reinterpret_cast<const uint32_t *>(data_ + (at & (size_ - 1)));
    uint32_t word = loadAcquire(header);
    if (word & BPF_RINGBUF_BUSY_BIT)
      return;
    uint32_t length = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    st_pkt_meta meta;
    std::span<const uint8_t> frame;
    if (!(word & BPF_RINGBUF_DISCARD_BIT) &&
        split(reinterpret_cast<const uint8_t *>(header) + BPF_RINGBUF_HDR_SZ, length, meta, frame))
      onRecord(meta, frame);
    at += (static_cast<uint64_t>(length) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
  }
}

} // namespace shadowtap
