// SPDX-License-Identifier: Apache-2.0
#include "net/link.h"

#include "common/error.h"
#include "common/unique_fd.h"

#include <cerrno>
#include <cstring>
#include <arpa/inet.h>
#include <fstream>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <vector>

namespace shadowtap {
namespace {

// A netlink request built attribute by attribute; nest() returns an offset to close later.
class NetlinkRequest {
public:
  NetlinkRequest(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_LENGTH(0));
    header()->nlmsg_type = type;
    header()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header()->nlmsg_seq = 1;
  }
  void append(const void *data, size_t len) {
    size_t at = buf_.size();
    buf_.resize(at + NLMSG_ALIGN(len));
    std::memcpy(buf_.data() + at, data, len);
    header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
  }
  void attr(uint16_t type, const void *data, size_t len) {
    rtattr rta{};
    rta.rta_type = type;
    rta.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    append(&rta, sizeof(rta));
    size_t at = buf_.size();
    buf_.resize(at + RTA_ALIGN(len));
    if (len) // a nest opens with an empty attribute: memcpy from nullptr is undefined even for 0 bytes
      std::memcpy(buf_.data() + at, data, len);
    header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
  }
  void attr(uint16_t type, const std::string &text) { attr(type, text.c_str(), text.size() + 1); }
  size_t nest(uint16_t type) {
    size_t at = buf_.size();
    attr(type, nullptr, 0);
    return at;
  }
  void endNest(size_t at) {
    reinterpret_cast<rtattr *>(buf_.data() + at)->rta_len = static_cast<uint16_t>(buf_.size() - at);
  }
  const std::vector<char> &bytes() const { return buf_; }

private:
  nlmsghdr *header() { return reinterpret_cast<nlmsghdr *>(buf_.data()); }
  std::vector<char> buf_;
};

// Sends the request and waits for the kernel's ACK; returns 0 or a negative errno.
int transact(const NetlinkRequest &request) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid())
    return -errno;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const auto &bytes = request.bytes();
  if (::sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr *>(&kernel), sizeof(kernel)) < 0)
    return -errno;
  char reply[8192];
  ssize_t n = ::recv(fd.get(), reply, sizeof(reply), 0);
  if (n < 0)
    return -errno;
  for (auto *h = reinterpret_cast<nlmsghdr *>(reply); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_ERROR)
      return reinterpret_cast<nlmsgerr *>(NLMSG_DATA(h))->error;
  }
  return -EPROTO;
}

// RTM_NEWLINK for a new link `name` of `kind`, left inside IFLA_LINKINFO / IFLA_INFO_DATA: the
// caller adds the kind's attributes, then closes the two nests (`linkinfo`, `data`).
struct NewLink {
  NetlinkRequest req{RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL};
  size_t linkinfo = 0, data = 0;
  NewLink(const std::string &name, const char *kind) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    req.append(&ifi, sizeof(ifi));
    req.attr(IFLA_IFNAME, name);
    linkinfo = req.nest(IFLA_LINKINFO);
    req.attr(IFLA_INFO_KIND, kind);
    data = req.nest(IFLA_INFO_DATA);
  }
  int send() {
    req.endNest(data);
    req.endNest(linkinfo);
    return transact(req);
  }
};

} // namespace

int ifindexOf(const std::string &name) { return static_cast<int>(::if_nametoindex(name.c_str())); }

// The address family, and the address into `out` (16 bytes). Throws UsageError.
static int parseInterfaceAddress(const std::string &address, unsigned char *out) {
  int family = inet_pton(AF_INET, address.c_str(), out) == 1    ? AF_INET
               : inet_pton(AF_INET6, address.c_str(), out) == 1 ? AF_INET6
                                                                : 0;
  if (!family)
    throw UsageError("invalid interface address '" + address + "': not an IPv4 or IPv6 address");
  return family;
}

void checkInterfaceAddress(const std::string &address) {
  unsigned char parsed[16];
  parseInterfaceAddress(address, parsed);
}

std::string ifaceHoldingAddress(const std::string &address) {
  unsigned char want[16];
  int family = parseInterfaceAddress(address, want);
  ifaddrs *list = nullptr;
  if (getifaddrs(&list) != 0)
    throwErrno("failed to list interface addresses", errno);
  std::string found;
  for (ifaddrs *a = list; a && found.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != family)
      continue;
    const void *have = family == AF_INET ? static_cast<const void *>(&reinterpret_cast<sockaddr_in *>(a->ifa_addr)->sin_addr)
                                         : static_cast<const void *>(&reinterpret_cast<sockaddr_in6 *>(a->ifa_addr)->sin6_addr);
    if (std::memcmp(have, want, family == AF_INET ? 4 : 16) == 0)
      found = a->ifa_name;
  }
  freeifaddrs(list);
  if (found.empty())
    throw UsageError("no interface holds address " + address);
  return found;
}

std::string ifnameOf(int ifindex) {
  char name[IF_NAMESIZE] = {};
  return ::if_indextoname(static_cast<unsigned>(ifindex), name) ? name : "";
}

std::vector<std::string> interfaceNames() {
  std::vector<std::string> names;
  if (struct if_nameindex *all = ::if_nameindex()) {
    for (struct if_nameindex *i = all; i->if_index != 0; i++)
      names.emplace_back(i->if_name);
    ::if_freenameindex(all);
  }
  return names;
}

std::string linkDriver(const std::string &name) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid())
    return "";
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  req.ifr_data = reinterpret_cast<char *>(&info);
  if (::ioctl(fd.get(), SIOCETHTOOL, &req) < 0)
    return "";
  return std::string(info.driver, strnlen(info.driver, sizeof info.driver));
}

void createVethPair(const std::string &name, const std::string &peer) {
  NewLink link(name, "veth");
  size_t peerInfo = link.req.nest(VETH_INFO_PEER);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  link.req.append(&ifi, sizeof(ifi));
  link.req.attr(IFLA_IFNAME, peer);
  link.req.endNest(peerInfo);
  if (int err = link.send())
    throwErrno("failed to create veth pair " + name + "/" + peer, err);
}

void createVxlanLink(const std::string &name, uint32_t vni, const std::string &remote, uint16_t port) {
  in_addr v4{};
  in6_addr v6{};
  bool ipv4 = inet_pton(AF_INET, remote.c_str(), &v4) == 1;
  if (!ipv4 && inet_pton(AF_INET6, remote.c_str(), &v6) != 1)
    throw UsageError("invalid VXLAN remote '" + remote + "': not an IPv4 or IPv6 address");
  NewLink link(name, "vxlan");
  auto &req = link.req;
  req.attr(IFLA_VXLAN_ID, &vni, sizeof(vni));
  if (ipv4)
    req.attr(IFLA_VXLAN_GROUP, &v4, sizeof(v4)); // a unicast "group" is the remote
  else
    req.attr(IFLA_VXLAN_GROUP6, &v6, sizeof(v6));
  uint16_t portBe = htons(port);
  req.attr(IFLA_VXLAN_PORT, &portBe, sizeof(portBe));
  uint8_t off = 0, on = 1;
  req.attr(IFLA_VXLAN_LEARNING, &off, sizeof(off));
  if (ipv4)
    req.attr(IFLA_VXLAN_UDP_CSUM, &on, sizeof(on));
  if (int err = link.send())
    throwErrno("failed to create VXLAN device " + name + " toward " + remote + ":" + std::to_string(port), err);
}

void deleteLink(const std::string &name) {
  int ifindex = ifindexOf(name);
  if (!ifindex)
    return;
  NetlinkRequest req(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  req.append(&ifi, sizeof(ifi));
  if (int err = transact(req); err && err != -ENODEV)
    throwErrno("failed to delete interface " + name, err);
}

void makeSilentAndUp(const std::string &name) {
  // IPv6 off first, so the link never sends a router solicitation or DAD probe once up.
  std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + name + "/disable_ipv6") << "1\n";

  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid())
    throwErrno("failed to open a control socket", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0)
    throwErrno("failed to read flags of " + name, errno);
  ifr.ifr_flags |= IFF_UP | IFF_NOARP;
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &ifr) != 0)
    throwErrno("failed to bring up " + name, errno);
}

void setMtu(const std::string &name, unsigned mtu) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid())
    throwErrno("failed to open a control socket", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (::ioctl(fd.get(), SIOCSIFMTU, &ifr) != 0)
    throwErrno("failed to set the MTU of " + name + " to " + std::to_string(mtu), errno);
}

} // namespace shadowtap
