// SPDX-License-Identifier: Apache-2.0
// `shadowtap run`: checks everything that can be checked before attaching, builds the Agent
// (runtime/agent.h), drops capabilities, and runs the event loop until SIGINT/SIGTERM. SIGHUP
// reloads the config file. Signals arrive as ordinary handlers on the loop (asio's signal_set),
// so shutdown always runs the destructors that detach.
#include "bpf/bpffs.h"
#include "capture/pcap_writer.h"
#include "commands/commands.h"
#include "common/capabilities.h"
#include "common/error.h"
#include "common/resource_limits.h"
#include "record/record_writer.h"
#include "replay/loop_guard.h"
#include "replay/replay_plan.h"
#include "runtime/agent.h"
#include "tap/preflight.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstring>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace asio = boost::asio;

int runCommand(const RunOptions &options, const std::string &bpffs, const std::function<RunOptions()> &reload) {
  requirePrivileges("run");
  requireBtf();
  for (const auto &pattern : options.interfacePatterns())
    if (!isInterfacePattern(pattern))
      requireIfindex(pattern, "--iface");
  if (options.mirrorIface)
    requireIfindex(*options.mirrorIface, "--mirror-iface");
  // Everything that can be checked is checked before attaching: a typo in a shadow name or an
  // unwritable pcap path must not leave a half-made tap behind.
  auto plan = replay::buildReplayPlan(options.services);
  replay::refuseLoops(plan, mirroredPorts(options), replay::localAddresses());
  std::unique_ptr<PcapWriter> pcap;
  if (options.pcapPath)
    pcap = std::make_unique<PcapWriter>(*options.pcapPath, options.snaplen);
  if (options.recordDir)
    record::prepareRecordDir(*options.recordDir);
  ensureBpffs(bpffs);
  auto openFiles = raiseOpenFileLimit(); // every replay is a socket: 1024 would cap replays far below --max-flows

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  Agent agent(io, options, bpffs, std::move(pcap), plan);
  warnIfFewFiles(openFiles); // only once the tap is up: a refused start prints its one error line alone
  bool follows = false; // new interfaces get programs loaded later
  for (const auto &pattern : options.interfacePatterns())
    follows = follows || isInterfacePattern(pattern);
  dropUnneededCapabilities(options.mode == Mode::Xdp, follows);
  // Ready once the loop runs: this handler is the first thing io.run() executes.
  asio::post(io, [&agent] { agent.markReady(); });

  // An interface named by --iface can go while the agent runs (a pod's veth when its pod is
  // deleted): its programs went with it, so nothing would ever be mirrored there again. Stop
  // within a tick, clean up what is left (mirror pair, pins), and exit with an error a supervisor
  // sees. (One matched by a pattern is forgotten instead: TapSet.)
  std::string interfaceGone;
  // Workers first (their replays are aborted, their flows end), within a bound: the agent exits
  // within 2 s of SIGTERM whatever the load.
  auto stop = [&] {
    agent.stopWorkers(std::chrono::milliseconds(1500));
    io.stop();
  };
  asio::steady_timer ticker(io);
  std::function<void()> onTick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](const boost::system::error_code &ec) {
      if (ec)
        return;
      interfaceGone = agent.goneNamedInterface();
      if (!interfaceGone.empty()) {
        stop();
        return;
      }
      agent.tick();
      onTick();
    });
  };
  onTick();

  std::function<void()> waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code &ec, int signo) {
      if (ec)
        return;
      if (signo == SIGHUP) {
        if (reload)
          agent.reload(reload);
        else
          spdlog::warn("SIGHUP ignored: the agent was started without --config");
        waitSignal();
        return;
      }
      spdlog::info("received {}, detaching", strsignal(signo));
      stop();
    });
  };
  waitSignal();
  io.run();
  if (!interfaceGone.empty())
    throw Error(interfaceGone + " disappeared while tapped (deleted, or its name now belongs to another "
                                "interface): stopped, and removed the rest of the tap");
  return 0;
}

} // namespace shadowtap
