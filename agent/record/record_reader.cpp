// SPDX-License-Identifier: Apache-2.0
#include "record/record_reader.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/pacer.h"

#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <set>
#include <sys/stat.h>

namespace shadowtap::record {

namespace {

// Every worker's files in sequence; records merged across workers by timestamp. Flow ids are
// per worker, so they are qualified by the worker here.
class RecordingInput : public OfflineInput {
public:
  RecordingInput(std::string path, std::map<uint32_t, std::vector<std::string>> series, double speed)
      : path_(std::move(path)), pacer_(speed) {
    for (auto &[worker, files] : series) {
      Series s;
      s.worker = worker;
      s.files = std::move(files);
      series_.push_back(std::move(s));
    }
    for (auto &s : series_)
      advance(s);
    pacer_.wakeAt(monotonicNs());
  }

  int readableFd() const override { return pacer_.fd(); }
  bool finished() const override { return finished_; }
  uint64_t clockNs() const override { return lastTs_; }
  uint64_t firstTsNs() const override { return pacer_.firstTs(); }
  uint64_t items() const override { return records_; }
  std::string describe() const override {
    std::string out = path_ + " (recording): " + std::to_string(records_) + " records, " +
                      std::to_string(connections_) + " connections in " + std::to_string(files_) + " files";
    if (torn_)
      out += ", " + std::to_string(torn_) + " torn last record" + (torn_ > 1 ? "s" : "") + " skipped";
    if (unknown_)
      out += ", " + std::to_string(unknown_) + " records of connections that started before the recording skipped";
    return out;
  }

  bool pump(MirrorPipeline &pipeline, uint32_t budget) override {
    pacer_.acknowledge();
    uint64_t now = monotonicNs();
    uint64_t left = static_cast<uint64_t>(budget) * 256;
    while (!finished_) {
      Series *next = nullptr;
      for (auto &s : series_)
        if (s.has && (!next || s.record.tsNs < next->record.tsNs))
          next = &s;
      if (!next) {
        finish(pipeline);
        break;
      }
      if (!pacer_.isDue(next->record.tsNs, now)) {
        pacer_.wakeAt(pacer_.due(next->record.tsNs));
        return false;
      }
      if (left == 0)
        return true;
      left--;
      deliver(pipeline, next->worker, next->record);
      advance(*next);
    }
    return false;
  }

private:
  struct Series {
    uint32_t worker = 0;
    std::vector<std::string> files;
    size_t nextFile = 0;
    std::unique_ptr<RecordFileReader> reader;
    Record record;
    bool has = false;
  };

  void advance(Series &s) {
    s.has = false;
    while (true) {
      if (s.reader && s.reader->next(s.record)) {
        s.has = true;
        return;
      }
      if (s.reader && s.reader->tornTail())
        torn_++;
      if (s.nextFile == s.files.size()) {
        s.reader.reset();
        return;
      }
      s.reader = std::make_unique<RecordFileReader>(s.files[s.nextFile++]);
      files_++;
    }
  }

  void deliver(MirrorPipeline &pipeline, uint32_t worker, const Record &r) {
    records_++;
    lastTs_ = std::max(lastTs_, r.tsNs);
    pipeline.setPacketTime(r.tsNs);
    flow::FlowId id = (static_cast<uint64_t>(worker) << 48) | (r.flow & ((1ull << 48) - 1));
    auto &sink = pipeline.sink();
    if (r.type == RecordType::FlowStart) {
      flow::FlowInfo info;
      if (!decodeFlowInfo(r.payload, info))
        throw Error(path_ + ": a connection-start record of " + std::to_string(r.payload.size()) + " bytes");
      if (!open_.insert(id).second)
        return;
      connections_++;
      sink.onFlowStart(id, info);
      return;
    }
    if (!open_.count(id)) {
      unknown_++;
      return;
    }
    switch (r.type) {
    case RecordType::ClientData:
      sink.onClientData(id, r.payload);
      break;
    case RecordType::ClientFin:
      sink.onClientFin(id);
      break;
    case RecordType::ServerData:
      sink.onServerData(id, r.payload);
      break;
    case RecordType::FlowEnd: {
      uint8_t reason = r.payload.empty() ? 0 : r.payload[0];
      if (reason > static_cast<uint8_t>(flow::FlowEnd::Shed))
        reason = static_cast<uint8_t>(flow::FlowEnd::Shutdown);
      open_.erase(id);
      sink.onFlowEnd(id, static_cast<flow::FlowEnd>(reason));
      break;
    }
    default:
      break;
    }
  }

  // Connections the recording never saw end (the agent stopped, or the budget ran out): replayed
  // up to where the recording stops, then reset.
  void finish(MirrorPipeline &pipeline) {
    for (auto id : open_)
      pipeline.sink().onFlowEnd(id, flow::FlowEnd::Shutdown);
    open_.clear();
    finished_ = true;
  }

  std::string path_;
  Pacer pacer_;
  std::vector<Series> series_;
  std::set<flow::FlowId> open_;
  bool finished_ = false;
  uint64_t lastTs_ = 0, records_ = 0, connections_ = 0, files_ = 0, torn_ = 0, unknown_ = 0;
};

} // namespace

std::unique_ptr<OfflineInput> openRecordingInput(const std::string &path, double speed) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throwErrno("failed to open " + path, errno);
  std::map<uint32_t, std::vector<std::string>> series;
  if (S_ISDIR(st.st_mode)) {
    DIR *dir = ::opendir(path.c_str());
    if (!dir)
      throwErrno("failed to open recording directory " + path, errno);
    std::vector<std::string> names;
    while (auto *entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name.rfind("shadowtap-w", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".rec")
        names.push_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    for (const auto &name : names) {
      unsigned worker = 0, sequence = 0;
      if (std::sscanf(name.c_str(), "shadowtap-w%u-%u.rec", &worker, &sequence) == 2)
        series[worker].push_back(path + "/" + name);
    }
    if (series.empty())
      throw Error(path + ": no recording files (shadowtap-w*-*.rec) in this directory");
    for (auto &[worker, files] : series)
      std::sort(files.begin(), files.end()); // the sequence is zero-padded: names sort in order
  } else {
    if (!isRecordingFile(path))
      throw Error(path + ": offset 0: not a pcap, pcapng or shadowtap recording file");
    series[0].push_back(path);
  }
  return std::make_unique<RecordingInput>(path, std::move(series), speed);
}

} // namespace shadowtap::record
