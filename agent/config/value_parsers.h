// SPDX-License-Identifier: Apache-2.0
// Option values from text, shared by the flags and the config file (so `--percent 101` and
// `mirrorPercentage: 101` fail alike), and back to text for status and logs. Pure: no I/O, every
// rule unit-tested without root.
#pragma once

#include "config/run_options.h"
#include "shadowtap/shared.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shadowtap {

// Throw UsageError with a message naming the flag and the bad value.
std::vector<uint16_t> parsePortList(const std::string &text);
uint16_t parsePort(const std::string &text);
uint32_t parsePercent(const std::string &text); // -> parts per million, accepts decimals
Cidr parseCidr(const std::string &text);
double parseSpeed(const std::string &text); // "2", "0.5", "10x"; "0" or "max": as fast as possible -> 0
// "1048576", "64K", "500M", "10G" (binary units); `what` names the flag or key in the error.
uint64_t parseByteSize(const std::string &text, const char *what);
Mode parseMode(const std::string &text);
Direction parseDirection(const std::string &text);
// An IPv4 or IPv6 address, as given; `what` names the flag or key in the error.
std::string parseIpAddress(const std::string &text, const char *what);
// "ADDR", "ADDR:PORT" or "[V6ADDR]:PORT"; the port defaults to 4789. `what` names the flag.
VxlanEndpoint parseVxlanEndpoint(const std::string &text, const char *what);
uint32_t parseVni(const std::string &text); // 0 to 2^24 - 1
Protocol parseProtocol(const std::string &text); // "tcp" | "http"
const char *protocolName(Protocol protocol);
uint32_t parseMark(const std::string &text); // decimal or 0x hex, non-zero

std::string formatPercent(uint32_t ratePpm); // 300000 -> "30", 100 -> "0.01"
std::string formatLpmKey(const st_lpm_key &key);

} // namespace shadowtap
