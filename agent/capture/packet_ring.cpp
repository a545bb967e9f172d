// SPDX-License-Identifier: Apache-2.0
#include "capture/packet_ring.h"

#include "capture/filled_run.h"

#include "common/error.h"
#include "common/touch_pages.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>

namespace shadowtap {

PacketRing::PacketRing(const std::string &iface, const Options &options) : options_(options) {
  unsigned ifindex = if_nametoindex(iface.c_str());
  if (!ifindex)
    throw Error("failed to open capture on " + iface + ": no such interface");
  // Protocol 0: the socket receives nothing until it is bound below, to this interface only.
  // Opened with ETH_P_ALL it would take every interface's frames from the first moment, and the
  // ring would start out full of other traffic.
  fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd_.valid())
    throwErrno("failed to open packet socket for " + iface, errno);

  int version = TPACKET_V3;
  if (setsockopt(fd_.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0)
    throwErrno("failed to select TPACKET_V3 on " + iface, errno);
  tpacket_req3 req{};
  req.tp_block_size = options_.blockSize;
  req.tp_block_nr = options_.blockCount;
  req.tp_frame_size = 2048; // only a granularity hint in V3: frames are packed by their real size
  req.tp_frame_nr = (req.tp_block_size / req.tp_frame_size) * req.tp_block_nr;
  req.tp_retire_blk_tov = options_.retireTimeoutMs;
  if (setsockopt(fd_.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0)
    throwErrno("failed to set up the capture ring on " + iface, errno);
  mapSize_ = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
  void *map = mmap(nullptr, mapSize_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd_.get(), 0);
  if (map == MAP_FAILED)
    map = mmap(nullptr, mapSize_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (map == MAP_FAILED)
    throwErrno("failed to map the capture ring of " + iface, errno);
  map_ = static_cast<uint8_t *>(map);
  // The first lap through the ring must not pay for its pages (common/touch_pages.h).
  auto touched = touchPages(map_, mapSize_);
  spdlog::debug("capture ring of {}: {} MiB, its pages touched in {} ms", iface, mapSize_ >> 20,
                std::chrono::duration_cast<std::chrono::milliseconds>(touched).count());

  if (options_.snapProg >= 0 &&
      setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_BPF, &options_.snapProg, sizeof(options_.snapProg)) != 0)
    throwErrno("failed to attach the capture filter on " + iface, errno);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0)
    throwErrno("failed to bind capture to " + iface, errno);
  if (options_.fanoutGroup) {
    int mode = options_.fanoutProg >= 0 ? PACKET_FANOUT_EBPF : PACKET_FANOUT_HASH;
    int fanout = options_.fanoutGroup | (mode << 16);
    if (setsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT, &fanout, sizeof(fanout)) != 0)
      throwErrno("failed to join the capture fan-out group on " + iface, errno);
    // The group's program (every member sets the same one: the group keeps the last).
    if (options_.fanoutProg >= 0 &&
        setsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT_DATA, &options_.fanoutProg, sizeof(options_.fanoutProg)) != 0)
      throwErrno("failed to set the capture fan-out program on " + iface, errno);
  }
}

PacketRing::~PacketRing() {
  if (map_)
    munmap(map_, mapSize_);
}

tpacket_block_desc *PacketRing::block(uint32_t index) const {
  return reinterpret_cast<tpacket_block_desc *>(
      map_ + static_cast<size_t>((nextBlock_ + index) % options_.blockCount) * options_.blockSize);
}

bool PacketRing::filled(uint32_t index) const {
  return __atomic_load_n(&block(index)->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER;
}

bool PacketRing::ready() const { return filled(0); }

void PacketRing::handFrames(const tpacket_block_desc *block, const FrameHandler &onFrame) {
  uint32_t count = block->hdr.bh1.num_pkts;
  auto *hdr = reinterpret_cast<const tpacket3_hdr *>(reinterpret_cast<const uint8_t *>(block) +
                                                     block->hdr.bh1.offset_to_first_pkt);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *data = reinterpret_cast<const uint8_t *>(hdr) + hdr->tp_mac;
    // CSUM_VALID: verified (CHECKSUM_UNNECESSARY); CSUMNOTREADY: CHECKSUM_PARTIAL, built on this
    // host and completed on transmit. Anything else was never checked.
    bool trusted = hdr->tp_status & (TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY);
    onFrame({{data, hdr->tp_snaplen},
             hdr->tp_len,
             static_cast<uint64_t>(hdr->tp_sec) * 1000000000ull + hdr->tp_nsec,
             trusted ? FrameChecksum::Trusted : FrameChecksum::Unverified});
    hdr = reinterpret_cast<const tpacket3_hdr *>(reinterpret_cast<const uint8_t *>(hdr) + hdr->tp_next_offset);
  }
}

void PacketRing::peekUnread(const FrameHandler &onFrame, size_t maxBytes) const {
  // The newest filled blocks: the latest sample of what the connections bring.
  uint32_t count = 0;
  while (count < options_.blockCount && filled(count))
    count++;
  uint32_t blocks = static_cast<uint32_t>(std::max<size_t>(1, maxBytes / options_.blockSize));
  for (uint32_t index = count > blocks ? count - blocks : 0; index < count; index++)
    handFrames(block(index), onFrame);
}

bool PacketRing::poll(const FrameHandler &onFrame, uint32_t budget) {
  for (uint32_t walked = 0; walked < std::min(options_.blockCount, budget); walked++) {
    if (!ready())
      break;
    tpacket_block_desc *next = block(0);
    handFrames(next, onFrame);
    __atomic_store_n(&next->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    nextBlock_ = (nextBlock_ + 1) % options_.blockCount;
    blocksRead_++;
  }
  return ready();
}

uint64_t PacketRing::takeKernelDrops() {
  tpacket_stats_v3 stats{};
  socklen_t len = sizeof(stats);
  if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0)
    return 0;
  return stats.tp_drops; // reading resets the kernel's counters
}

double PacketRing::occupancy() const {
  uint32_t filledBlocks = filledRun(options_.blockCount, [this](uint32_t index) { return filled(index); });
  return static_cast<double>(filledBlocks) / options_.blockCount;
}

} // namespace shadowtap
