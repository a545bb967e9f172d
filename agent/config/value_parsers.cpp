// SPDX-License-Identifier: Apache-2.0
#include "config/value_parsers.h"

#include "common/enum_names.h"
#include "common/error.h"

#include <arpa/inet.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace shadowtap {
namespace {

std::string trim(const std::string &text) {
  auto begin = text.find_first_not_of(" \t");
  auto end = text.find_last_not_of(" \t");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

template <typename T> bool parseNumber(const std::string &text, T &out, int base = 10) {
  const char *first = text.data();
  const char *last = first + text.size();
  std::from_chars_result result;
  if constexpr (std::is_floating_point_v<T>)
    result = std::from_chars(first, last, out, std::chars_format::fixed);
  else
    result = std::from_chars(first, last, out, base);
  return result.ec == std::errc() && result.ptr == last && !text.empty();
}

constexpr EnumName<Mode> kModeNames[] = {{Mode::Tc, "tc"}, {Mode::Xdp, "xdp"}};
constexpr EnumName<Direction> kDirectionNames[] = {
    {Direction::Auto, "auto"}, {Direction::Hook, "hook"}, {Direction::Ports, "ports"}};
constexpr EnumName<Protocol> kProtocolNames[] = {{Protocol::Tcp, "tcp"}, {Protocol::Http, "http"}};

// One of the table's names, exactly; else "invalid --FLAG 'TEXT': use a, b or c".
template <class Enum, size_t N>
Enum parseName(const EnumName<Enum> (&table)[N], const std::string &text, const char *flag) {
  if (auto value = valueOf(table, text))
    return *value;
  throw UsageError("invalid --" + std::string(flag) + " '" + text + "': use " + choicesOf(table));
}

} // namespace

uint16_t parsePort(const std::string &raw) {
  std::string text = trim(raw);
  unsigned long value = 0;
  if (!parseNumber(text, value) || value < 1 || value > 65535)
    throw UsageError("invalid port '" + raw + "': expected a number from 1 to 65535");
  return static_cast<uint16_t>(value);
}

std::vector<uint16_t> parsePortList(const std::string &text) {
  std::vector<uint16_t> ports;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    uint16_t port = parsePort(item);
    for (uint16_t seen : ports)
      if (seen == port)
        throw UsageError("invalid --port '" + text + "': port " + std::to_string(port) + " is listed twice");
    ports.push_back(port);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (ports.size() > ST_MAX_RULES)
    throw UsageError("too many ports: at most " + std::to_string(ST_MAX_RULES));
  return ports;
}

uint32_t parsePercent(const std::string &raw) {
  std::string text = trim(raw);
  double value = 0;
  if (!parseNumber(text, value) || !std::isfinite(value) || value < 0 || value > 100)
    throw UsageError("invalid --percent '" + raw + "': expected a number from 0 to 100 (decimals allowed, e.g. 0.01)");
  auto ppm = static_cast<uint32_t>(std::llround(value * (ST_RATE_SCALE / 100.0)));
  if (ppm == 0 && value > 0)
    throw UsageError("invalid --percent '" + raw + "': the finest rate is 0.0001 (one connection per million)");
  return ppm;
}

double parseSpeed(const std::string &raw) {
  std::string text = trim(raw);
  if (text == "max")
    return 0;
  if (!text.empty() && (text.back() == 'x' || text.back() == 'X'))
    text.pop_back();
  double value = 0;
  if (!parseNumber(text, value) || !std::isfinite(value) || value < 0 || value > 1e6 || (value > 0 && value < 1e-3))
    throw UsageError("invalid --speed '" + raw + "': expected a factor from 0.001 to 1000000 (2: twice as fast), or "
                     "0 or max: as fast as possible");
  return value;
}

uint64_t parseByteSize(const std::string &raw, const char *what) {
  std::string text = trim(raw);
  uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
    case 'k': case 'K': scale = 1ull << 10; break;
    case 'm': case 'M': scale = 1ull << 20; break;
    case 'g': case 'G': scale = 1ull << 30; break;
    case 't': case 'T': scale = 1ull << 40; break;
    default: break;
    }
    if (scale != 1)
      text.pop_back();
  }
  uint64_t value = 0;
  if (!parseNumber(text, value) || value == 0 || value > (1ull << 50) / scale)
    throw UsageError(std::string("invalid ") + what + " '" + raw + "': expected a size in bytes, e.g. 500M, 10G");
  return value * scale;
}

Cidr parseCidr(const std::string &raw) {
  std::string text = trim(raw);
  std::string addr = text;
  std::optional<unsigned> prefix;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    unsigned value = 0;
    if (!parseNumber(text.substr(slash + 1), value))
      throw UsageError("invalid CIDR '" + raw + "': bad prefix length");
    prefix = value;
  }

  Cidr cidr;
  unsigned char bytes[16] = {};
  unsigned maxPrefix = 0, offset = 0;
  if (inet_pton(AF_INET, addr.c_str(), bytes + 12) == 1) {
    bytes[10] = bytes[11] = 0xff; // ::ffff:a.b.c.d, as the BPF parser stores IPv4
    maxPrefix = 32;
    offset = 96;
  } else if (inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
    maxPrefix = 128;
  } else {
    throw UsageError("invalid CIDR '" + raw + "': expected ADDRESS[/PREFIX] with an IPv4 or IPv6 address");
  }
  unsigned bits = prefix.value_or(maxPrefix);
  if (bits > maxPrefix)
    throw UsageError("invalid CIDR '" + raw + "': prefix length above " + std::to_string(maxPrefix));

  // Clear host bits so that equal networks give equal keys (and `--include-cidr` finds them).
  unsigned total = offset + bits;
  for (unsigned i = 0; i < 16; i++) {
    unsigned keep = total >= (i + 1) * 8 ? 8 : (total > i * 8 ? total - i * 8 : 0);
    bytes[i] &= static_cast<unsigned char>(0xff00 >> keep);
  }
  cidr.key.prefixlen = total;
  std::memcpy(cidr.key.addr, bytes, 16);
  cidr.text = formatLpmKey(cidr.key);
  return cidr;
}

std::string parseIpAddress(const std::string &text, const char *what) {
  in6_addr v6;
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1)
    return text;
  throw UsageError(std::string("invalid ") + what + " '" + text + "': expected an IPv4 or IPv6 address");
}

VxlanEndpoint parseVxlanEndpoint(const std::string &text, const char *what) {
  VxlanEndpoint out;
  std::string host = text, port;
  if (!text.empty() && text.front() == '[') { // [v6]:port
    auto close = text.find(']');
    if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':'))
      throw UsageError(std::string("invalid ") + what + " '" + text + "': expected ADDR[:PORT] or [IPv6]:PORT");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size())
      port = text.substr(close + 2);
  } else if (std::count(text.begin(), text.end(), ':') == 1) { // v4:port (a bare IPv6 has several)
    auto colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  out.address = parseIpAddress(host, what);
  if (!port.empty() || (!text.empty() && text.back() == ':')) {
    try {
      out.port = parsePort(port);
    } catch (const UsageError &) {
      throw UsageError(std::string("invalid ") + what + " '" + text + "': the port must be 1 to 65535");
    }
  }
  return out;
}

uint32_t parseVni(const std::string &text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > kMaxVni)
    throw UsageError("invalid --vni '" + text + "': expected 0 to " + std::to_string(kMaxVni));
  return static_cast<uint32_t>(value);
}

Mode parseMode(const std::string &text) { return parseName(kModeNames, text, "mode"); }

Direction parseDirection(const std::string &text) { return parseName(kDirectionNames, text, "direction"); }

Protocol parseProtocol(const std::string &text) { return parseName(kProtocolNames, text, "protocol"); }

const char *protocolName(Protocol protocol) { return nameOf(kProtocolNames, protocol); }

uint32_t parseMark(const std::string &raw) {
  std::string text = trim(raw);
  unsigned long value = 0;
  bool ok = text.rfind("0x", 0) == 0 ? parseNumber(text.substr(2), value, 16) : parseNumber(text, value);
  if (!ok || value == 0 || value > 0xffffffffUL)
    throw UsageError("invalid --mark '" + raw + "': expected a non-zero 32-bit number");
  return static_cast<uint32_t>(value);
}

std::string formatPercent(uint32_t ratePpm) {
  // Up to four decimals, trailing zeros trimmed: 300000 -> "30", 100 -> "0.01", 1 -> "0.0001".
  std::string text = std::to_string(ratePpm / 10000);
  uint32_t frac = ratePpm % 10000;
  if (frac) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 4 - digits.size(), '0');
    while (digits.back() == '0')
      digits.pop_back();
    text += "." + digits;
  }
  return text;
}

std::string formatLpmKey(const st_lpm_key &key) {
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (key.prefixlen >= 96 && std::memcmp(key.addr, kMapped, 12) == 0) {
    inet_ntop(AF_INET, key.addr + 12, buf, sizeof(buf));
    return std::string(buf) + "/" + std::to_string(key.prefixlen - 96);
  }
  inet_ntop(AF_INET6, key.addr, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(key.prefixlen);
}

} // namespace shadowtap
