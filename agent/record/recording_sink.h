// SPDX-License-Identifier: Apache-2.0
// Between the flow table and the stages after it: hands every event on unchanged and, when a
// recording is on (`run --record DIR`), writes it down first, stamped with the kernel timestamp
// of the packet being processed. Server bytes are recorded for HTTP services only (the primary's
// responses, the comparison's baseline when the recording is replayed).
#pragma once

#include "flow/flow_sink.h"
#include "record/record_writer.h"

#include <memory>
#include <set>

namespace shadowtap::record {

class RecordingSink : public flow::FlowSink {
public:
  RecordingSink(flow::FlowSink &next, std::unique_ptr<RecordWriter> writer, std::set<uint16_t> httpPorts)
      : next_(next), writer_(std::move(writer)), httpPorts_(std::move(httpPorts)) {}

  void setPacketTime(uint64_t ns) { nowNs_ = ns; }
  void flush() {
    if (writer_)
      writer_->flush();
  }
  const RecordWriter *writer() const { return writer_.get(); }

  void onFlowStart(flow::FlowId id, const flow::FlowInfo &info) override;
  void onClientData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onClientFin(flow::FlowId id) override;
  // Not recorded: a replay from a recording sends its FIN at once (the close order is live only).
  void onServerClosedFirst(flow::FlowId id) override { next_.onServerClosedFirst(id); }
  void onServerData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onFlowEnd(flow::FlowId id, flow::FlowEnd end) override;

private:
  flow::FlowSink &next_;
  std::unique_ptr<RecordWriter> writer_;
  std::set<uint16_t> httpPorts_;
  std::set<flow::FlowId> httpFlows_;
  uint64_t nowNs_ = 0;
};

} // namespace shadowtap::record
