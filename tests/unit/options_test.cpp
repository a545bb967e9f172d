// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "config/validation.h"
#include "config/value_parsers.h"

#include <gtest/gtest.h>

using namespace shadowtap;

TEST(ParsePort, AcceptsTheValidRange) {
  EXPECT_EQ(parsePort("1"), 1);
  EXPECT_EQ(parsePort("8080"), 8080);
  EXPECT_EQ(parsePort("65535"), 65535);
  EXPECT_EQ(parsePort(" 443 "), 443);
}

TEST(ParsePort, RejectsOutOfRangeAndGarbage) {
  for (const char *bad : {"0", "65536", "-1", "", "http", "80x", "1e3", "99999999999999999999"})
    EXPECT_THROW(parsePort(bad), UsageError) << bad;
}

TEST(ParsePortList, SplitsAndRejectsDuplicates) {
  EXPECT_EQ(parsePortList("80,443,8080"), (std::vector<uint16_t>{80, 443, 8080}));
  EXPECT_THROW(parsePortList("80,80"), UsageError);
  EXPECT_THROW(parsePortList("80,"), UsageError);
  EXPECT_THROW(parsePortList(",80"), UsageError);
  std::string many;
  for (int p = 1; p <= ST_MAX_RULES + 1; p++)
    many += (many.empty() ? "" : ",") + std::to_string(p);
  EXPECT_THROW(parsePortList(many), UsageError);
}

TEST(ParsePercent, ConvertsToPartsPerMillion) {
  EXPECT_EQ(parsePercent("100"), 1000000u);
  EXPECT_EQ(parsePercent("30"), 300000u);
  EXPECT_EQ(parsePercent("0"), 0u);
  EXPECT_EQ(parsePercent("0.01"), 100u); // one connection in 10,000
  EXPECT_EQ(parsePercent("0.0001"), 1u);
  EXPECT_EQ(parsePercent("12.5"), 125000u);
}

TEST(ParsePercent, RejectsOutsideZeroToHundred) {
  for (const char *bad : {"101", "-1", "100.01", "abc", "", "nan", "inf", "1e2", "0x10", "30%"})
    EXPECT_THROW(parsePercent(bad), UsageError) << bad;
  EXPECT_THROW(parsePercent("0.00001"), UsageError); // below the 1 ppm resolution, not silently 0
}

TEST(FormatPercent, RoundTrips) {
  for (const char *text : {"100", "30", "0", "0.01", "0.0001", "12.5", "99.9999"})
    EXPECT_EQ(formatPercent(parsePercent(text)), text);
}

TEST(ParseCidr, Ipv4IsStoredMapped) {
  Cidr c = parseCidr("10.1.2.3/24");
  EXPECT_EQ(c.key.prefixlen, 96u + 24u);
  EXPECT_EQ(c.key.addr[10], 0xff);
  EXPECT_EQ(c.key.addr[11], 0xff);
  EXPECT_EQ(c.key.addr[12], 10);
  EXPECT_EQ(c.key.addr[15], 0); // host bits cleared
  EXPECT_EQ(c.text, "10.1.2.0/24");
  EXPECT_EQ(parseCidr("192.0.2.7").text, "192.0.2.7/32");
}

TEST(ParseCidr, Ipv6) {
  Cidr c = parseCidr("fd00:1::5/64");
  EXPECT_EQ(c.key.prefixlen, 64u);
  EXPECT_EQ(c.text, "fd00:1::/64");
  EXPECT_EQ(parseCidr("::1").text, "::1/128");
}

TEST(ParseCidr, RejectsBadInput) {
  for (const char *bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "host/8", "10.0.0.0/", "10.0.0.0/-1", "1.2.3.4/8/8"})
    EXPECT_THROW(parseCidr(bad), UsageError) << bad;
}

TEST(ParseMode, OnlyTcAndXdp) {
  EXPECT_EQ(parseMode("tc"), Mode::Tc);
  EXPECT_EQ(parseMode("xdp"), Mode::Xdp);
  EXPECT_THROW(parseMode("TC"), UsageError);
  EXPECT_THROW(parseMode("ebpf"), UsageError);
}

TEST(ParseMark, DecimalOrHexNonZero) {
  EXPECT_EQ(parseMark("21332"), 0x5354u);
  EXPECT_EQ(parseMark("0x5354"), 0x5354u);
  EXPECT_THROW(parseMark("0"), UsageError);
  EXPECT_THROW(parseMark("0x100000000"), UsageError);
  EXPECT_THROW(parseMark("mark"), UsageError);
}

namespace {
RunOptions goodRun() {
  RunOptions o;
  o.iface = "eth0";
  o.services = {ServiceRule{"", 8080}};
  return o;
}
} // namespace

TEST(ValidateRun, AcceptsAMinimalRun) { EXPECT_NO_THROW(validate(goodRun())); }

TEST(ValidateRun, RejectsEachBadField) {
  auto o = goodRun();
  o.iface = "";
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.iface = "a-name-far-too-long-for-linux";
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.iface = "../etc";
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.services.clear();
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.services.push_back(ServiceRule{"", 8080}); // the same port twice
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.services[0].copies = 3; // copies without a shadow to copy to
  EXPECT_THROW(validate(o), UsageError);
  o.services[0].shadows = {"10.0.0.9:80"};
  EXPECT_NO_THROW(validate(o));
  o = goodRun();
  o.mirrorIface = "eth0";
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.snaplen = 10;
  EXPECT_THROW(validate(o), UsageError);
  o = goodRun();
  o.pcapPath = "/tmp/x.pcap"; // pcap is an XDP-mode feature
  EXPECT_THROW(validate(o), UsageError);
  o.mode = Mode::Xdp;
  EXPECT_NO_THROW(validate(o));
}

// What check-config can check anywhere: everything but the interface, still the rest.
TEST(ValidateRun, AllButIfaceSkipsOnlyTheInterface) {
  auto o = goodRun();
  o.iface = "";
  EXPECT_NO_THROW(validateAllButIface(o));
  o.services.clear();
  EXPECT_THROW(validateAllButIface(o), UsageError);
  o = goodRun();
  o.snaplen = 10;
  EXPECT_THROW(validateAllButIface(o), UsageError);
}

TEST(ValidateSet, NeedsSomethingToDoAndCoherentFlags) {
  SetOptions o;
  o.iface = "eth0";
  EXPECT_THROW(validate(o), UsageError); // nothing to set
  o.ratePpm = 100;
  EXPECT_THROW(validate(o), UsageError); // percent without port
  o.port = 8080;
  EXPECT_NO_THROW(validate(o));
  SetOptions onlyPort;
  onlyPort.iface = "eth0";
  onlyPort.port = 8080;
  EXPECT_THROW(validate(onlyPort), UsageError);
  SetOptions exclude;
  exclude.iface = "eth0";
  exclude.excludes.push_back(parseCidr("10.0.0.0/8"));
  EXPECT_NO_THROW(validate(exclude));
}
