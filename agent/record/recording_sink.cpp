// SPDX-License-Identifier: Apache-2.0
#include "record/recording_sink.h"

namespace shadowtap::record {

void RecordingSink::onFlowStart(flow::FlowId id, const flow::FlowInfo &info) {
  if (writer_) {
    writer_->append(RecordType::FlowStart, id, nowNs_, encodeFlowInfo(info));
    if (httpPorts_.count(info.serverPort))
      httpFlows_.insert(id);
  }
  next_.onFlowStart(id, info);
}

void RecordingSink::onClientData(flow::FlowId id, std::span<const uint8_t> bytes) {
  if (writer_)
    for (size_t at = 0; at < bytes.size(); at += kMaxPayload)
      writer_->append(RecordType::ClientData, id, nowNs_, bytes.subspan(at, std::min<size_t>(kMaxPayload, bytes.size() - at)));
  next_.onClientData(id, bytes);
}

void RecordingSink::onClientFin(flow::FlowId id) {
  if (writer_)
    writer_->append(RecordType::ClientFin, id, nowNs_, {});
  next_.onClientFin(id);
}

void RecordingSink::onServerData(flow::FlowId id, std::span<const uint8_t> bytes) {
  if (writer_ && httpFlows_.count(id))
    for (size_t at = 0; at < bytes.size(); at += kMaxPayload)
      writer_->append(RecordType::ServerData, id, nowNs_, bytes.subspan(at, std::min<size_t>(kMaxPayload, bytes.size() - at)));
  next_.onServerData(id, bytes);
}

void RecordingSink::onFlowEnd(flow::FlowId id, flow::FlowEnd end) {
  if (writer_) {
    uint8_t reason = static_cast<uint8_t>(end);
    writer_->append(RecordType::FlowEnd, id, nowNs_, {&reason, 1});
    httpFlows_.erase(id);
  }
  next_.onFlowEnd(id, end);
}

} // namespace shadowtap::record
