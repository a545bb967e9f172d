// SPDX-License-Identifier: Apache-2.0
#include "record/record_writer.h"

#include "common/error.h"

#include <cerrno>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shadowtap::record {

void prepareRecordDir(const std::string &dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throwErrno("failed to create recording directory " + dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throwErrno("failed to stat recording directory " + dir, errno);
  if (!S_ISDIR(st.st_mode))
    throw Error("failed to use recording directory " + dir + ": not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throwErrno("failed to write into recording directory " + dir, errno);
}

RecordWriter::RecordWriter(std::string dir, uint32_t worker, uint64_t rotateBytes, uint64_t maxBytes)
    : dir_(std::move(dir)), worker_(worker), rotateBytes_(rotateBytes), maxBytes_(maxBytes) {
  prepareRecordDir(dir_);
  openNext();
  if (!fd_.valid())
    throw Error("failed to create a recording file in " + dir_);
}

RecordWriter::~RecordWriter() { flush(); }

void RecordWriter::stop(const std::string &why) {
  if (!stopped_)
    spdlog::warn("recording into {} stopped: {}", dir_, why);
  stopped_ = true;
}

void RecordWriter::openNext() {
  flush();
  // Never reuse a name: a restarted agent must not overwrite an earlier recording's files.
  while (true) {
    std::string path = dir_ + "/" + fileName(worker_, ++sequence_);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      fd_.reset(fd);
      break;
    }
    if (errno != EEXIST || sequence_ > 999999) {
      stop(withErrno("failed to create " + path, errno));
      fd_.reset();
      return;
    }
  }
  auto header = fileHeader(worker_);
  buffer_.insert(buffer_.end(), header.begin(), header.end());
  fileBytes_ = header.size();
  totalBytes_ += header.size();
  stats_.files++;
}

void RecordWriter::append(RecordType type, uint64_t flow, uint64_t tsNs, std::span<const uint8_t> payload) {
  if (stopped_) {
    stats_.dropped++;
    return;
  }
  size_t size = kRecordHeaderSize + payload.size();
  if (totalBytes_ + size > maxBytes_) {
    stats_.dropped++;
    stop("--record-max-bytes (" + std::to_string(maxBytes_) + " bytes for this worker) reached");
    return;
  }
  if (fileBytes_ + size > rotateBytes_ && fileBytes_ > kFileHeaderSize) {
    openNext();
    if (stopped_) {
      stats_.dropped++;
      return;
    }
  }
  encode(buffer_, type, flow, tsNs, payload);
  fileBytes_ += size;
  totalBytes_ += size;
  stats_.records++;
  if (buffer_.size() >= (256u << 10))
    flush();
}

void RecordWriter::flush() {
  size_t done = 0;
  while (done < buffer_.size() && fd_.valid()) {
    ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      stop(withErrno("failed to write into " + dir_, errno));
      fd_.reset();
      break;
    }
    done += static_cast<size_t>(n);
  }
  stats_.bytes += done;
  buffer_.clear();
}

} // namespace shadowtap::record
