// SPDX-License-Identifier: Apache-2.0
// Route templating. The rules, in order:
//  - Method: kept as sent (methods are case-sensitive); a byte outside the RFC 9110 token set
//    becomes '_'; cut to kMaxMethodChars; an empty method becomes "-".
//  - Target -> path: origin-form "/p?q#f" -> "/p"; absolute-form "http://host:80/p?q" -> "/p"
//    (no path -> "/"); asterisk-form "*" -> "*"; CONNECT's authority-form "host:443" is kept
//    (encoded and bounded like a path); an empty target -> "/"; anything else is read as a path
//    and gets a leading '/'.
//  - Segments that look like identifiers become "{id}" (isIdentifier below); an identifier with a
//    short extension keeps it: "17.json" -> "{id}.json". Empty segments ("//", trailing '/') stay.
//  - Bytes that are not printable ASCII, the space, '"', '\\', '{' and '}' are percent-encoded
//    (%XX): a route is ASCII, "METHOD PATH" with exactly one space, needs no escaping in JSON or
//    Prometheus, and "{...}" in it is always ours.
//  - Bounds: a path keeps at most kMaxSegments segments and kMaxPathChars characters. What does
//    not fit is replaced by the marker "{...}": as the last segment when segments are dropped
//    ("/a/b/.../o/{...}", 16 segments), appended to the cut segment when the length runs out.
//    So a route is at most 16 + 1 + 200 characters.
#include "compare/route_template.h"

#include <cstddef>

namespace shadowtap::compare {
namespace {

constexpr size_t kMaxMethodChars = 16;
constexpr size_t kMaxPathChars = 200;
constexpr size_t kMaxSegments = 16;
constexpr size_t kMaxExtensionChars = 8;
constexpr std::string_view kElided = "{...}";
constexpr std::string_view kId = "{id}";

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isLower(char c) {
  return c >= 'a' && c <= 'z';
}
bool isUpper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool isAlpha(char c) {
  return isLower(c) || isUpper(c);
}
bool isAlnum(char c) {
  return isDigit(c) || isAlpha(c);
}
bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool isTokenChar(char c) {
  return isAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool needsEncoding(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '{' || c == '}';
}

void appendEncoded(std::string &out, std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : raw) {
    if (!needsEncoding(c)) {
      out += c;
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
}

bool isUuid(std::string_view s) {
  if (s.size() != 36)
    return false;
  for (size_t i = 0; i < s.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isHex(s[i]))
      return false;
  }
  return true;
}

// Decimal numbers; UUIDs; hex strings of 8+ characters with a digit (object ids, hashes: "deadbeef"
// alone stays a word; a 16-character hash has no digit once in 10 million); 16+ letters and
// digits with both (opaque keys); base64url tokens: 20+ characters with a digit and both letter
// cases, or 32+ characters with a digit or an upper-case letter (lower-case slugs such as
// "release-notes-2024-v2" stay); digit groups joined by '-' or '_' with 6+ digits in all (dates,
// phone numbers: "2024-01-05"; "1.2" stays a version).
bool isIdentifier(std::string_view s) {
  if (s.empty())
    return false;
  bool allDigit = true, allHex = true, allAlnum = true, allBase64 = true, allDigitGroups = true;
  bool digit = false, lower = false, upper = false;
  size_t digits = 0;
  for (char c : s) {
    allDigit = allDigit && isDigit(c);
    allHex = allHex && isHex(c);
    allAlnum = allAlnum && isAlnum(c);
    allBase64 = allBase64 && (isAlnum(c) || c == '-' || c == '_' || c == '=' || c == '+');
    allDigitGroups = allDigitGroups && (isDigit(c) || c == '-' || c == '_');
    digit = digit || isDigit(c);
    digits += isDigit(c) ? 1 : 0;
    lower = lower || isLower(c);
    upper = upper || isUpper(c);
  }
  if (allDigit || isUuid(s))
    return true;
  if (allHex && s.size() >= 8 && digit)
    return true;
  if (allAlnum && s.size() >= 16 && digit && (lower || upper))
    return true;
  if (allDigitGroups && digits >= 6)
    return true;
  if (allBase64 && s.size() >= 32 && (digit || upper) && (lower || upper))
    return true;
  return allBase64 && s.size() >= 20 && digit && lower && upper;
}

// One path segment, templated and encoded.
std::string templateSegment(std::string_view raw) {
  std::string out;
  if (isIdentifier(raw))
    return std::string(kId);
  if (size_t dot = raw.rfind('.'); dot != std::string_view::npos && dot > 0) {
    std::string_view stem = raw.substr(0, dot), ext = raw.substr(dot + 1);
    bool extOk = !ext.empty() && ext.size() <= kMaxExtensionChars && isAlpha(ext[0]);
    for (char c : ext)
      extOk = extOk && isAlnum(c);
    if (extOk && isIdentifier(stem)) {
      out = kId;
      out += '.';
      out += ext;
      return out;
    }
  }
  appendEncoded(out, raw);
  return out;
}

// The first `room` characters of an encoded string, not splitting a %XX.
std::string_view cutEncoded(std::string_view s, size_t room) {
  if (room >= s.size())
    return s;
  if (room >= 1 && s[room - 1] == '%')
    room -= 1;
  else if (room >= 2 && s[room - 2] == '%')
    room -= 2;
  return s.substr(0, room);
}

std::string boundedEncoded(std::string_view raw) {
  std::string encoded;
  appendEncoded(encoded, raw);
  if (encoded.size() <= kMaxPathChars)
    return encoded;
  std::string out(cutEncoded(encoded, kMaxPathChars - kElided.size()));
  out += kElided;
  return out;
}

// "scheme://" at the start of `target`: the length of the scheme, else 0.
size_t schemeLength(std::string_view target) {
  if (target.empty() || !isAlpha(target[0]))
    return 0;
  size_t i = 1;
  while (i < target.size() && (isAlnum(target[i]) || target[i] == '+' || target[i] == '-' || target[i] == '.'))
    i++;
  return target.substr(i).starts_with("://") ? i : 0;
}

std::string_view pathOf(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.starts_with('/'))
    return target;
  if (size_t scheme = schemeLength(target)) {
    std::string_view rest = target.substr(scheme + 3);
    size_t slash = rest.find('/');
    return slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return target;
}

std::string templatePath(std::string_view path) {
  if (path.starts_with('/'))
    path.remove_prefix(1);
  std::string out;
  size_t start = 0;
  for (size_t index = 0;; index++) {
    size_t end = path.find('/', start);
    bool last = end == std::string_view::npos;
    if (index + 1 == kMaxSegments && !last) {
      out += '/';
      out += kElided;
      break;
    }
    std::string seg = templateSegment(path.substr(start, last ? std::string_view::npos : end - start));
    // Every non-last segment leaves room for "/{...}", so the marker always fits.
    size_t reserve = last ? 0 : 1 + kElided.size();
    if (out.size() + 1 + seg.size() + reserve > kMaxPathChars) {
      out += '/';
      out += cutEncoded(seg, kMaxPathChars - out.size() - kElided.size());
      out += kElided;
      break;
    }
    out += '/';
    out += seg;
    if (last)
      break;
    start = end + 1;
  }
  return out;
}

} // namespace

std::string routeOf(std::string_view method, std::string_view target) {
  std::string route;
  for (char c : method.substr(0, kMaxMethodChars))
    route += isTokenChar(c) ? c : '_';
  if (route.empty())
    route = "-";
  route += ' ';
  if (target == "*") {
    route += '*';
    return route;
  }
  if (method == "CONNECT" && !target.empty() && !target.starts_with('/')) {
    route += boundedEncoded(target);
    return route;
  }
  route += templatePath(pathOf(target));
  return route;
}

} // namespace shadowtap::compare
