// SPDX-License-Identifier: Apache-2.0
// One parsed HTTP/1.x message head (request line or status line, and its header fields), as the
// framer (message_framer.h) hands it to the rules (request_rules.h) and the comparison.
// The raw bytes of the head travel next to it: a request that no rule touches is forwarded
// byte-for-byte, a rewritten one is re-serialised from this struct.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shadowtap::http {

struct Header {
  std::string name;  // as sent (case preserved)
  std::string value; // leading/trailing whitespace removed
};

struct MessageHead {
  bool isRequest = true;
  // Requests
  std::string method; // "GET"
  std::string target; // request-target as sent: "/books/7?x=1"
  // Responses
  unsigned status = 0;
  std::string reason;
  // Both
  unsigned versionMajor = 1;
  unsigned versionMinor = 1;
  std::vector<Header> headers;
  bool keepAlive = true; // the connection stays open after this message
  bool upgrade = false;  // the stream stops being HTTP after this message (Upgrade, CONNECT, 101)

  // First header with this name, compared case-insensitively; nullptr if absent.
  const Header *find(std::string_view name) const;
  // The path of the request-target without the query string ("/books/7").
  std::string_view path() const;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);

} // namespace shadowtap::http
