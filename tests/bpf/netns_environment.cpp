// SPDX-License-Identifier: Apache-2.0
#include "netns_environment.h"

#include "net/link.h"

#include <cerrno>
#include <cstring>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace shadowtap::test {
namespace {

int gMirrorIfindex = 0;
int gMirrorPeerIfindex = 0;
int gLoopbackIfindex = 0;

void bringUp(const char *name) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  int err = errno;
  ::close(fd);
  ASSERT_TRUE(ok) << "failed to bring up " << name << ": " << std::strerror(err);
}

class NetnsEnvironment : public ::testing::Environment {
public:
  void SetUp() override {
    // CI runs this as root; a silent skip there would hide a broken data plane, so fail loudly.
    ASSERT_EQ(::geteuid(), 0u) << "bpf_tests must run as root (it loads BPF programs and creates a "
                                  "network namespace): run it with sudo";
    // A private netns for the whole process: the veth pair and every clone stay in it and vanish
    // with it when the process exits, even if a test crashes.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "failed to unshare the network namespace: " << std::strerror(errno);
    bringUp("lo");
    gLoopbackIfindex = ifindexOf("lo");
    // The mirror port is made exactly as the agent makes it, with the agent's own code.
    ASSERT_NO_THROW(createVethPair(kMirrorIface, kMirrorPeerIface));
    ASSERT_NO_THROW(makeSilentAndUp(kMirrorIface));
    ASSERT_NO_THROW(makeSilentAndUp(kMirrorPeerIface));
    gMirrorIfindex = ifindexOf(kMirrorIface);
    gMirrorPeerIfindex = ifindexOf(kMirrorPeerIface);
    ASSERT_GT(gMirrorIfindex, 0);
    ASSERT_GT(gMirrorPeerIfindex, 0);
  }
};

// Registered at static-initialisation time so the stock gtest_main picks it up.
[[maybe_unused]] ::testing::Environment *const gEnvironment = ::testing::AddGlobalTestEnvironment(new NetnsEnvironment);

} // namespace

int mirrorIfindex() {
  return gMirrorIfindex;
}
int mirrorPeerIfindex() {
  return gMirrorPeerIfindex;
}
int loopbackIfindex() {
  return gLoopbackIfindex;
}

} // namespace shadowtap::test
