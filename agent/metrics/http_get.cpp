// SPDX-License-Identifier: Apache-2.0
#include "metrics/http_get.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace shadowtap {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string trim(const std::string &s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Transfer-Encoding: chunked -> the body. Throws HttpGetError on a malformed or cut encoding.
std::string dechunk(const std::string &in) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    auto eol = in.find("\r\n", pos);
    if (eol == std::string::npos)
      throw HttpGetError("truncated chunked body");
    std::string sizeText = in.substr(pos, eol - pos);
    sizeText = sizeText.substr(0, sizeText.find(';')); // chunk extensions
    size_t size = 0;
    auto [end, ec] = std::from_chars(sizeText.data(), sizeText.data() + sizeText.size(), size, 16);
    if (ec != std::errc() || end == sizeText.data())
      throw HttpGetError("malformed chunk size '" + sizeText.substr(0, 16) + "'");
    pos = eol + 2;
    if (size == 0)
      return out; // trailers, if any, are ignored
    if (in.size() - pos < size + 2)
      throw HttpGetError("truncated chunked body");
    out.append(in, pos, size);
    pos += size + 2;
  }
}

} // namespace

HttpResponse parseHttpResponse(const std::string &raw) {
  auto headerEnd = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || headerEnd == std::string::npos) {
    std::string start = raw.substr(0, std::min<size_t>(raw.find('\n'), 60));
    for (char &c : start)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        c = '?';
    throw HttpGetError(raw.empty() ? "empty response" : "not an HTTP response: '" + start + "'");
  }
  HttpResponse response;
  auto lineEnd = raw.find("\r\n");
  response.statusLine = raw.substr(0, lineEnd);
  int status = 0;
  auto space = response.statusLine.find(' ');
  if (space == std::string::npos)
    throw HttpGetError("malformed status line '" + response.statusLine.substr(0, 60) + "'");
  const char *digits = response.statusLine.data() + space + 1;
  auto [end, ec] = std::from_chars(digits, response.statusLine.data() + response.statusLine.size(), status);
  if (ec != std::errc() || end - digits != 3)
    throw HttpGetError("malformed status line '" + response.statusLine.substr(0, 60) + "'");
  response.status = status;

  bool chunked = false;
  long long contentLength = -1;
  size_t pos = lineEnd + 2;
  while (pos < headerEnd) {
    auto eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string name = lower(trim(line.substr(0, colon))), value = trim(line.substr(colon + 1));
    if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos)
      chunked = true;
    else if (name == "content-length") {
      auto [e, err] = std::from_chars(value.data(), value.data() + value.size(), contentLength);
      if (err != std::errc() || e != value.data() + value.size() || contentLength < 0)
        throw HttpGetError("malformed Content-Length '" + value.substr(0, 20) + "'");
    }
  }
  std::string body = raw.substr(headerEnd + 4);
  if (chunked)
    body = dechunk(body);
  else if (contentLength >= 0) {
    if (body.size() < size_t(contentLength))
      throw HttpGetError("truncated body: " + std::to_string(body.size()) + " of " + std::to_string(contentLength) +
                         " bytes");
    body.resize(size_t(contentLength));
  }
  response.body = std::move(body);
  return response;
}

namespace {

// getaddrinfo() cannot be cancelled: a name is resolved on a thread of its own, which is abandoned
// (it finishes on its own and frees its state) if the deadline comes first. Addresses skip it.
tcp::resolver::results_type resolveBefore(const std::string &host, const std::string &port,
                                          std::chrono::steady_clock::time_point deadline, int timeoutMs) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    unsigned long p = std::stoul(port);
    return tcp::resolver::results_type::create(tcp::endpoint(address, uint16_t(p)), host, port);
  }
  struct State {
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    tcp::resolver::results_type results;
    boost::system::error_code error;
  };
  auto state = std::make_shared<State>();
  std::thread([state, host, port] {
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code error;
    auto results = resolver.resolve(host, port, error);
    std::lock_guard lock(state->mutex);
    state->results = std::move(results);
    state->error = error;
    state->finished = true;
    state->done.notify_one();
  }).detach();
  std::unique_lock lock(state->mutex);
  if (!state->done.wait_until(lock, deadline, [&] { return state->finished; }))
    throw HttpGetError("timed out after " + std::to_string(timeoutMs) + " ms resolving " + host);
  if (state->error)
    throw HttpGetError("cannot resolve " + host + ": " + state->error.message());
  return state->results;
}

} // namespace

HttpResponse httpGet(const std::string &host, const std::string &port, const std::string &target, int timeoutMs,
                     size_t maxBytes) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  auto endpoints = resolveBefore(host, port, deadline, timeoutMs);
  asio::io_context io;
  tcp::socket socket(io);
  bool v6 = host.find(':') != std::string::npos;
  std::string request = "GET " + target + " HTTP/1.0\r\nHost: " + (v6 ? "[" + host + "]" : host) + ":" + port +
                        "\r\nAccept: application/json, text/plain\r\nUser-Agent: shadowtap\r\n\r\n";
  std::string raw;
  // Set by the last step that ran; "timed out" if the deadline came first.
  std::string failure = "timed out after " + std::to_string(timeoutMs) + " ms";
  bool done = false;
  asio::async_connect(socket, endpoints, [&](const boost::system::error_code &cec, const tcp::endpoint &) {
    if (cec) {
      failure = cec.message();
      return;
    }
    asio::async_write(socket, asio::buffer(request), [&](const boost::system::error_code &wec, size_t) {
      if (wec) {
        failure = wec.message();
        return;
      }
      // One byte over the limit tells "exactly at the limit" from "larger".
      asio::async_read(socket, asio::dynamic_buffer(raw, maxBytes + 1), [&](const boost::system::error_code &rec, size_t) {
        if (rec == asio::error::eof)
          done = true;
        else if (raw.size() > maxBytes || rec == asio::error::not_found)
          failure = "response larger than " + std::to_string(maxBytes >> 20) + " MiB";
        else
          failure = rec.message();
      });
    });
  });
  io.run_until(deadline);
  if (!done)
    throw HttpGetError(failure);
  if (raw.size() > maxBytes)
    throw HttpGetError("response larger than " + std::to_string(maxBytes >> 20) + " MiB");
  return parseHttpResponse(raw);
}

} // namespace shadowtap
