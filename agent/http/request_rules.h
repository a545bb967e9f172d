// SPDX-License-Identifier: Apache-2.0
// Per-request mirroring rules, mesh-style, applied on top of the kernel's per-connection
// sampling: header-match exclusions (`end-user: bbo` is never mirrored), an optional method/path
// match, a per-request percentage, and the rewrite of the mirrored copy's head (set/remove
// headers, Host -> "<host>-shadow" like Envoy's request mirroring). Pure: unit-tested, no I/O.
#pragma once

#include "http/http_message.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace shadowtap::http {

enum class MatchKind { Exact, Prefix, Regex };

struct StringMatch {
  MatchKind kind = MatchKind::Exact;
  std::string text;                   // exact/prefix text, or the regex source
  std::shared_ptr<const re2::RE2> re; // compiled once (RE2 syntax, whole-value match)
  bool matches(std::string_view value) const;
};

// Throws UsageError naming `what` if RE2 refuses the regex (a syntax error, or what RE2 does not
// do at all: backreferences, lookaround).
StringMatch makeStringMatch(MatchKind kind, std::string text, const std::string &what);

struct HeaderMatch {
  std::string name; // case-insensitive
  StringMatch value;
  bool matches(const MessageHead &head) const; // some header of that name matches
};

// Every present part must match (mesh `match:` entry).
struct RequestMatch {
  std::optional<StringMatch> method;
  std::optional<StringMatch> path; // against the path without the query string
  std::vector<HeaderMatch> headers;
  bool matches(const MessageHead &head) const;
};

struct HttpRules {
  std::vector<RequestMatch> exclude;       // a request matching any of these is never mirrored
  std::vector<RequestMatch> match;         // non-empty: only requests matching one are mirrored
  uint32_t requestRatePpm = 1'000'000;     // per-request percentage of the matched requests
  std::vector<Header> setHeaders;          // replace (all occurrences) or add
  std::vector<std::string> removeHeaders;  // case-insensitive
  bool hostSuffix = true;                  // Host: books:8080 -> books-shadow:8080
  // Replay the mirrored requests over a pool of keep-alive connections to each shadow (request
  // mirroring, as a mesh does: `--http-pool`, http.pool) instead of one replay connection per
  // client connection (replay/request_pool.h). The copy of a request carries none of the client's
  // Connection headers (`close` among them) and asks for keep-alive where HTTP/1.0 needs it.
  bool pooled = false;
  // Rules from the command line apply to every service; all of these are per service in a file.

  // Some rule keeps something from the shadows (a request, or a header): the connection then
  // fails closed when it cannot be framed (request_stream.h). The Host suffix and the
  // per-request percentage hide nothing and do not count.
  bool privacy() const { return !exclude.empty() || !match.empty() || !setHeaders.empty() || !removeHeaders.empty(); }
};

enum class Verdict { Mirror, Excluded, NotMatched, SampledOut };
const char *verdictName(Verdict verdict);

// `draw` is uniform in [0, 1'000'000): the request is mirrored when draw < requestRatePpm.
Verdict decide(const HttpRules &rules, const MessageHead &request, uint32_t draw);

// True if mirroring this request needs a new head (some header set/removed, Host suffixed, or,
// pooled, a Connection header to drop or keep-alive to ask for).
bool rewrites(const HttpRules &rules, const MessageHead &request);
// The head sent to the shadow: request line + headers after the rules, CRLF-terminated.
std::string rewriteHead(const HttpRules &rules, const MessageHead &request);
// A chunked request's trailer section (fields, then the blank line) as the shadow gets it: fields
// named by removeHeaders or setHeaders dropped (a set header's value is the head's; a credential
// must not come back in a trailer), everything else byte for byte.
std::string filterTrailers(const HttpRules &rules, std::string_view section);
// "books.example:8080" -> "books.example-shadow:8080"; "[::1]:80" -> "[::1]-shadow:80" is not
// useful, so IP literals are left alone.
std::string shadowHost(std::string_view host);

// Command-line forms. Throw UsageError naming the flag and the value.
HeaderMatch parseHeaderMatch(const std::string &text, const char *flag); // "NAME: VALUE" (exact)
// The exclusion `--exclude-header NAME: VALUE` adds: a RequestMatch with that one header.
RequestMatch headerExclusion(HeaderMatch header);
Header parseHeaderAssignment(const std::string &text, const char *flag);  // "NAME: VALUE"
std::string parseHeaderName(const std::string &text, const char *flag);   // token chars only
// Framing headers (Content-Length, Transfer-Encoding) cannot be set or removed: the body is
// forwarded as it came. Throws UsageError.
void validate(const HttpRules &rules);

} // namespace shadowtap::http
