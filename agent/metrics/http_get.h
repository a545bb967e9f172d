// SPDX-License-Identifier: Apache-2.0
// The agent's one HTTP client: a single GET, HTTP/1.0 (so the server answers with a plain body and
// closes: no keep-alive, no chunking to expect, though a chunked body is decoded), bounded in time
// (one deadline for resolve + connect + exchange) and in size (the response is refused past
// maxBytes). Used by `status`/`report` to read the local agent endpoint and by
// `report --prometheus` to query Prometheus' HTTP API. No TLS, no redirects, no proxies.
#pragma once

#include "common/error.h"

#include <cstddef>
#include <string>

namespace shadowtap {

// A failed exchange: what() is the reason alone ("Connection refused", "timed out after 5000 ms",
// "response larger than 64 MiB", "not an HTTP response"), for the caller to put in context.
class HttpGetError : public Error {
public:
  using Error::Error;
};

struct HttpResponse {
  int status = 0;         // 200, 404...
  std::string statusLine; // "HTTP/1.1 200 OK"
  std::string body;       // decoded (chunked) and cut to Content-Length when given
};

// GET http://HOST:PORT/TARGET (TARGET starts with '/', query string included). HOST is a name, an
// IPv4 address or an IPv6 address without brackets. Throws HttpGetError.
HttpResponse httpGet(const std::string &host, const std::string &port, const std::string &target, int timeoutMs,
                     size_t maxBytes = size_t(64) << 20);

// The response parser, alone (unit-tested): the raw bytes read until the server closed.
HttpResponse parseHttpResponse(const std::string &raw);

} // namespace shadowtap
