// SPDX-License-Identifier: Apache-2.0
// Per-request rules (request_rules.h). Decisions written down here:
//  - StringMatch: exact and prefix compare bytes (case-sensitive, as in Istio); regex is a
//    whole-value RE2::FullMatch (RE2 syntax, as Envoy's safe_regex). Header NAMES compare
//    case-insensitively.
//  - RE2, not std::regex: RE2 runs in time linear in the value (automata, no backtracking), so
//    no pattern can stall the agent's one thread — std::regex took minutes on "(a+)+b" against 32
//    "a"s, and recursed once per input byte (a stack overflow on long values). What RE2 cannot do
//    in linear time (backreferences, lookaround) it refuses at load: a config error.
//    Every value is decided, whatever its length (heads are bounded by the framer, 80 KiB).
//  - Patterns and values are bytes (Latin-1 to RE2), not UTF-8: HTTP field values are octets,
//    and in UTF-8 mode `.` does not match an invalid byte, so an exclusion `.*bbo.*` let a value
//    with one stray byte (0xb2...bbo) through (found by the http_stage fuzz target). A UTF-8
//    literal in a pattern still matches the same bytes; a non-ASCII character inside [...]
//    stands for its bytes one by one.
//  - A match that cannot be decided (a hand-built regex RE2 refuses) is NOT mirrored: an
//    exclusion that cannot be decided excludes, a match entry that cannot be decided does not
//    match. The public matches() functions answer false for it.
//  - A set header wins over a removal of the same name; the set header keeps the place of the
//    first occurrence, further occurrences are dropped, and it is appended if absent. The name is
//    written as the rule spells it.
//  - Command-line forms: a header MATCH needs a non-empty value (an exact match on an empty value
//    is almost always a typo: "end-user:"); a header ASSIGNMENT may have an empty value (a field
//    with an empty value is valid HTTP). Values may not hold control characters except TAB.
//  - validate() refuses, besides Content-Length/Transfer-Encoding: Connection and Upgrade (they
//    frame the connection that carries the requests that follow), setting or removing Host
//    (hostSuffix rewrites it; HTTP/1.1 servers answer 400 without one), the same header set twice,
//    names that are not tokens and values with control characters.
#include "http/request_rules.h"

#include "common/enum_names.h"

#include "common/error.h"

#include <algorithm>
#include <cctype>
#include <re2/re2.h>
#include <utility>

namespace shadowtap::http {
namespace {

enum class Tri { No, Yes, Unknown };

// RE2 logs refused patterns to stderr by default; we report them ourselves (file:line:key).
std::shared_ptr<const RE2> compileRegex(const std::string &pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_encoding(RE2::Options::EncodingLatin1);
  return std::make_shared<const RE2>(pattern, options);
}

bool isTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool isToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return isTokenChar(c); });
}

// Control characters other than TAB (CR, LF and NUL among them) would split or end the head.
bool hasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

std::string trim(std::string_view text) {
  auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos)
    return {};
  auto end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

// For error messages: the user's text with control characters made visible.
std::string printable(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f)
      out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
    else
      out += ch;
  }
  return out;
}

const char *kTokenChars = "letters, digits and !#$%&'*+-.^_`|~";

Tri evaluate(const StringMatch &match, std::string_view value) {
  switch (match.kind) {
  case MatchKind::Exact:
    return value == match.text ? Tri::Yes : Tri::No;
  case MatchKind::Prefix:
    return value.substr(0, match.text.size()) == match.text ? Tri::Yes : Tri::No;
  case MatchKind::Regex:
    break;
  }
  re2::StringPiece text(value.data(), value.size());
  if (match.re)
    return RE2::FullMatch(text, *match.re) ? Tri::Yes : Tri::No;
  // Built by hand without makeStringMatch: compile now (slow, but the same answer).
  auto re = compileRegex(match.text);
  if (!re->ok())
    return Tri::Unknown;
  return RE2::FullMatch(text, *re) ? Tri::Yes : Tri::No;
}

Tri evaluate(const HeaderMatch &match, const MessageHead &head) {
  Tri result = Tri::No;
  for (const auto &header : head.headers) {
    if (!equalsIgnoreCase(header.name, match.name))
      continue;
    Tri one = evaluate(match.value, header.value);
    if (one == Tri::Yes)
      return Tri::Yes;
    if (one == Tri::Unknown)
      result = Tri::Unknown;
  }
  return result;
}

// Every part must match: any No makes it No, else any Unknown makes it Unknown.
Tri evaluate(const RequestMatch &match, const MessageHead &head) {
  Tri result = Tri::Yes;
  auto add = [&](Tri part) {
    if (part == Tri::No)
      result = Tri::No;
    else if (part == Tri::Unknown && result == Tri::Yes)
      result = Tri::Unknown;
  };
  if (match.method)
    add(evaluate(*match.method, head.method));
  if (match.path && result != Tri::No)
    add(evaluate(*match.path, head.path()));
  for (const auto &header : match.headers) {
    if (result == Tri::No)
      break;
    add(evaluate(header, head));
  }
  return result;
}

bool isFramingHeader(std::string_view name) {
  return equalsIgnoreCase(name, "Content-Length") || equalsIgnoreCase(name, "Transfer-Encoding") ||
         equalsIgnoreCase(name, "Connection") || equalsIgnoreCase(name, "Upgrade");
}

bool isRemoved(const HttpRules &rules, std::string_view name) {
  return std::any_of(rules.removeHeaders.begin(), rules.removeHeaders.end(),
                     [&](const std::string &removed) { return equalsIgnoreCase(removed, name); });
}

const Header *setFor(const HttpRules &rules, std::string_view name) {
  for (const auto &set : rules.setHeaders)
    if (equalsIgnoreCase(set.name, name))
      return &set;
  return nullptr;
}

bool suffixesHost(const HttpRules &rules, const Header &header) {
  return rules.hostSuffix && equalsIgnoreCase(header.name, "Host") && !header.value.empty();
}

// Splits "NAME: VALUE" at the first colon; both sides trimmed.
std::pair<std::string, std::string> splitAssignment(const std::string &text, const char *flag) {
  auto colon = text.find(':');
  if (colon == std::string::npos)
    throw UsageError(std::string(flag) + ": expected 'NAME: VALUE', got '" + printable(text) + "'");
  std::string name = trim(std::string_view(text).substr(0, colon));
  std::string value = trim(std::string_view(text).substr(colon + 1));
  if (name.empty())
    throw UsageError(std::string(flag) + ": expected 'NAME: VALUE', got '" + printable(text) + "' (no name)");
  if (!isToken(name))
    throw UsageError(std::string(flag) + ": '" + printable(name) + "' in '" + printable(text) +
                     "' is not a header name (" + kTokenChars + ")");
  if (hasControl(value))
    throw UsageError(std::string(flag) + ": the value in '" + printable(text) +
                     "' holds a control character (CR, LF, NUL...): it would split the request head");
  return {std::move(name), std::move(value)};
}

} // namespace

bool StringMatch::matches(std::string_view value) const { return evaluate(*this, value) == Tri::Yes; }

StringMatch makeStringMatch(MatchKind kind, std::string text, const std::string &what) {
  StringMatch match;
  match.kind = kind;
  match.text = std::move(text);
  if (kind == MatchKind::Regex) {
    auto re = compileRegex(match.text);
    if (!re->ok())
      throw UsageError(what + ": invalid regex '" + printable(match.text) + "': " + re->error() +
                       " (RE2 syntax: no backreferences or lookaround)");
    match.re = std::move(re);
  }
  return match;
}

bool HeaderMatch::matches(const MessageHead &head) const { return evaluate(*this, head) == Tri::Yes; }

bool RequestMatch::matches(const MessageHead &head) const { return evaluate(*this, head) == Tri::Yes; }

const char *verdictName(Verdict verdict) {
  static constexpr EnumName<Verdict> kNames[] = {{Verdict::Mirror, "mirror"}, {Verdict::Excluded, "excluded"},
                                                 {Verdict::NotMatched, "not_matched"}, {Verdict::SampledOut, "sampled_out"}};
  return nameOf(kNames, verdict);
}

Verdict decide(const HttpRules &rules, const MessageHead &request, uint32_t draw) {
  // An exclusion that cannot be decided excludes: when in doubt, do not mirror.
  for (const auto &exclusion : rules.exclude)
    if (evaluate(exclusion, request) != Tri::No)
      return Verdict::Excluded;
  if (!rules.match.empty() && std::none_of(rules.match.begin(), rules.match.end(), [&](const RequestMatch &m) {
        return evaluate(m, request) == Tri::Yes;
      }))
    return Verdict::NotMatched;
  // 100% mirrors every request, whatever the draw.
  if (rules.requestRatePpm < 1'000'000 && draw >= rules.requestRatePpm)
    return Verdict::SampledOut;
  return Verdict::Mirror;
}

std::string shadowHost(std::string_view host) {
  if (host.empty() || host.front() == '[') // empty, or an IPv6 literal ("[::1]:80")
    return std::string(host);
  std::string_view name = host, port;
  if (auto colon = host.find(':'); colon != std::string_view::npos) {
    if (host.find(':', colon + 1) != std::string_view::npos) // bare IPv6: not a valid Host, left alone
      return std::string(host);
    name = host.substr(0, colon);
    port = host.substr(colon); // with its ':'
  }
  bool ipv4 = std::all_of(name.begin(), name.end(),
                          [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
  if (name.empty() || ipv4)
    return std::string(host);
  return std::string(name) + "-shadow" + std::string(port);
}

// Pooled replay: the copy goes over a connection the pool shares, so it carries none of the
// client's Connection headers (hop-by-hop: they are about the client's connection) and asks for
// keep-alive where the version does not imply it (as http_parser reads a version: x.0; HTTP/0.9
// has no persistent connections to ask for: the shadow closes after it, and the pool retires the
// connection then).
// Every Connection header goes, not only one that http_parser took for "close": the head is
// written anew, so how the shadow reads it is what counts (`Connection: close<TAB>` was keep-alive
// to http_parser, but `Connection: close` once re-serialized without the trailing whitespace;
// found by the http_stage fuzz target). An upgrade is left as it is (its Connection header names
// the upgrade; the pool retires that connection after it).
static bool keepsPooledOpen(const HttpRules &rules, const MessageHead &request) {
  return rules.pooled && !request.upgrade;
}
static bool asksKeepAlive(const HttpRules &rules, const MessageHead &request) {
  bool implied = request.versionMajor > 0 && request.versionMinor > 0;
  return keepsPooledOpen(rules, request) && !implied && request.versionMajor > 0;
}
// http_parser takes `Connection ` (whitespace before the colon, which RFC 9112 forbids) for the
// Connection header too, and so would the shadow's parser (fuzz, http_stage).
static bool isConnectionHeader(std::string_view name) {
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
    name.remove_suffix(1);
  return equalsIgnoreCase(name, "Connection");
}

bool rewrites(const HttpRules &rules, const MessageHead &request) {
  if (asksKeepAlive(rules, request))
    return true;
  if (keepsPooledOpen(rules, request)) {
    for (const auto &header : request.headers)
      if (isConnectionHeader(header.name))
        return true;
  }
  for (const auto &set : rules.setHeaders) {
    unsigned seen = 0;
    bool same = false;
    for (const auto &header : request.headers)
      if (equalsIgnoreCase(header.name, set.name)) {
        seen++;
        same = header.value == set.value;
      }
    if (seen != 1 || !same) // absent, repeated or another value
      return true;
  }
  for (const auto &header : request.headers) {
    if (isRemoved(rules, header.name) && !setFor(rules, header.name))
      return true;
    if (suffixesHost(rules, header) && shadowHost(header.value) != header.value)
      return true;
  }
  return false;
}

std::string rewriteHead(const HttpRules &rules, const MessageHead &request) {
  std::string out = request.method + " " + request.target + " HTTP/" + std::to_string(request.versionMajor) + "." +
                    std::to_string(request.versionMinor) + "\r\n";
  std::vector<bool> written(rules.setHeaders.size(), false);
  auto line = [&](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  bool keepOpen = keepsPooledOpen(rules, request);
  for (const auto &header : request.headers) {
    if (keepOpen && isConnectionHeader(header.name))
      continue;
    if (const Header *set = setFor(rules, header.name)) {
      size_t index = static_cast<size_t>(set - rules.setHeaders.data());
      if (!written[index])
        line(set->name, set->value);
      written[index] = true;
      continue;
    }
    if (isRemoved(rules, header.name))
      continue;
    line(header.name, suffixesHost(rules, header) ? shadowHost(header.value) : header.value);
  }
  for (size_t i = 0; i < rules.setHeaders.size(); i++)
    if (!written[i] && setFor(rules, rules.setHeaders[i].name) == &rules.setHeaders[i])
      line(rules.setHeaders[i].name, rules.setHeaders[i].value);
  // Last: a client's line that begins with whitespace (obs-fold) would continue the line before it.
  if (asksKeepAlive(rules, request))
    line("Connection", "keep-alive");
  out += "\r\n";
  return out;
}

HeaderMatch parseHeaderMatch(const std::string &text, const char *flag) {
  auto [name, value] = splitAssignment(text, flag);
  if (value.empty())
    throw UsageError(std::string(flag) + ": expected 'NAME: VALUE', got '" + printable(text) +
                     "' (the value is empty)");
  return HeaderMatch{std::move(name), makeStringMatch(MatchKind::Exact, std::move(value), flag)};
}

RequestMatch headerExclusion(HeaderMatch header) {
  RequestMatch match;
  match.headers.push_back(std::move(header));
  return match;
}

Header parseHeaderAssignment(const std::string &text, const char *flag) {
  auto [name, value] = splitAssignment(text, flag);
  return Header{std::move(name), std::move(value)};
}

std::string parseHeaderName(const std::string &text, const char *flag) {
  std::string name = trim(text);
  if (!isToken(name))
    throw UsageError(std::string(flag) + ": expected a header name (" + kTokenChars + "), got '" + printable(text) +
                     "'");
  return name;
}

void validate(const HttpRules &rules) {
  auto refuse = [](const char *verb, const std::string &name) {
    std::string what = std::string("cannot ") + verb + " header '" + printable(name) + "': ";
    if (equalsIgnoreCase(name, "Host"))
      throw UsageError(what + "the mirrored copy keeps the request's Host (hostSuffix makes it '<host>-shadow'; "
                              "HTTP/1.1 servers answer 400 without one)");
    if (equalsIgnoreCase(name, "Connection") || equalsIgnoreCase(name, "Upgrade"))
      throw UsageError(what + "it frames the connection, which carries the requests that follow as they came");
    throw UsageError(what + "Content-Length and Transfer-Encoding frame the body, which is forwarded as it came");
  };
  for (size_t i = 0; i < rules.setHeaders.size(); i++) {
    const auto &set = rules.setHeaders[i];
    if (!isToken(set.name))
      throw UsageError("cannot set header '" + printable(set.name) + "': not a header name (" + kTokenChars + ")");
    if (hasControl(set.value))
      throw UsageError("cannot set header '" + set.name + "' to '" + printable(set.value) +
                       "': the value holds a control character (CR, LF, NUL...)");
    if (isFramingHeader(set.name) || equalsIgnoreCase(set.name, "Host"))
      refuse("set", set.name);
    if (setFor(rules, set.name) != &set)
      throw UsageError("header '" + set.name + "' is set twice: give it once");
  }
  for (const auto &name : rules.removeHeaders) {
    if (!isToken(name))
      throw UsageError("cannot remove header '" + printable(name) + "': not a header name (" + kTokenChars + ")");
    if (isFramingHeader(name) || equalsIgnoreCase(name, "Host"))
      refuse("remove", name);
  }
  if (rules.requestRatePpm > 1'000'000)
    throw UsageError("invalid request percentage: above 100");
}

std::string filterTrailers(const HttpRules &rules, std::string_view section) {
  auto dropped = [&](std::string_view name) {
    for (const auto &removed : rules.removeHeaders)
      if (equalsIgnoreCase(removed, name))
        return true;
    for (const auto &set : rules.setHeaders)
      if (equalsIgnoreCase(set.name, name))
        return true;
    return false;
  };
  std::string out;
  out.reserve(section.size());
  bool dropping = false; // the field being dropped goes on (an obs-fold continuation line)
  while (!section.empty()) {
    size_t end = section.find('\n');
    std::string_view line = section.substr(0, end == std::string_view::npos ? section.size() : end + 1);
    section.remove_prefix(line.size());
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!continuation) {
      size_t colon = line.find(':');
      std::string_view name = colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
        name.remove_suffix(1);
      dropping = !name.empty() && dropped(name);
    }
    if (!dropping)
      out.append(line);
  }
  return out;
}

} // namespace shadowtap::http
