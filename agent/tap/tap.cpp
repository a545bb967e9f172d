// SPDX-License-Identifier: Apache-2.0
#include "tap/tap.h"

#include "bpf/bpffs.h"
#include "common/error.h"
#include "net/link.h"
#include "tap/preflight.h"

#include <cstdlib>
#include <csignal>
#include <cstring>
#include <random>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace shadowtap {

PinDirGuard::PinDirGuard(std::string dir) : dir_(std::move(dir)) {
  createPinDir(dir_);
}
PinDirGuard::~PinDirGuard() {
  removePinDir(dir_);
}

Tap::Tap(const RunOptions &options, const std::string &iface, const std::string &bpffs, const MirrorPair &mirror,
         const Datapath &shared, uint32_t seed)
    : iface_(iface), ifindex_(requireIfindex(iface, "--iface")), veth_(linkDriver(iface) == "veth"),
      pinDir_(pinDirFor(bpffs, iface)) {
  claimInterface(iface, bpffs, options.replaceStale);
  attachMode_ = chooseTcAttachMode(ifindex_, iface);
  pins_ = std::make_unique<PinDirGuard>(pinDir_);
  datapath_ = std::make_unique<Datapath>(Datapath::Settings{options.mode, options.snaplen, pinDir_, &shared});

  // Maps are filled before any program is attached, so the first packet already sees the rules.
  // In XDP mode libxdp loads the object as part of attaching, so load it here only for TC.
  bool xdp = options.mode == Mode::Xdp;
  if (!xdp)
    datapath_->load();

  auto configure = [&] {
    maps_ = std::make_unique<TapMaps>(datapath_->mapFds());
    st_runtime runtime{};
    runtime.seed = seed;
    runtime.enabled = 1;
    maps_->setRuntime(runtime);
    applyRuntime(options);
  };

  st_state state{};
  state.mode = xdp ? ST_MODE_XDP : ST_MODE_TC;
  state.ifindex = static_cast<uint32_t>(ifindex_);
  state.mirror_ifindex = static_cast<uint32_t>(mirror.txIfindex());
  state.agent_pid = static_cast<uint32_t>(::getpid());
  std::strncpy(state.mirror_iface, mirror.txName().c_str(), sizeof(state.mirror_iface) - 1);
  if (mirror.created()) {
    state.flags |= ST_STATE_CREATED_VETH; // the pair, or the VXLAN device: deleted on detach
    if (!mirror.vxlan())
      std::strncpy(state.mirror_peer, mirror.rxName().c_str(), sizeof(state.mirror_peer) - 1);
  }
  if (attachMode_ == TcAttachMode::Tcx)
    state.flags |= ST_STATE_TCX;

  if (xdp && veth_)
    // Any XDP program on a veth turns off its GRO/GSO path: measured here, a do-nothing one
    // (xdp-filter) took a single iperf3 stream from 18.0 to 4.9 Gbit/s (docs/architecture.md,
    // "Capture path, measured"). TC mode costs such a link far less.
    spdlog::warn("{}: XDP mode on a veth slows the primary's bulk transfers several times over (any XDP "
                 "program does: the veth loses GRO); TC mode (the default) is the one for veths",
                 iface);
  if (xdp) {
    // The XDP program is disabled (runtime.enabled == 0, the zeroed map) until configure() runs.
    xdp_ = std::make_unique<XdpAttachment>(datapath_->object(), ifindex_, iface);
    datapath_->markLoaded();
    state.flags |= ST_STATE_XDP_ATTACHED;
  }
  configure();

  if (attachMode_ == TcAttachMode::Clsact) { // tcx needs no qdisc
    clsact_ = std::make_unique<ClsactQdisc>(ifindex_, iface);
    if (clsact_->created())
      state.flags |= ST_STATE_CREATED_CLSACT;
  }
  maps_->setState(state); // recorded before each attach, so a crash in between is still undoable
  if (!xdp) {
    ingress_ = std::make_unique<TcProgram>(attachMode_, ifindex_, iface, TcDirection::Ingress,
                                           datapath_->tcIngressFd());
    state.flags |= ST_STATE_TC_INGRESS;
  }
  egress_ = std::make_unique<TcProgram>(attachMode_, ifindex_, iface, TcDirection::Egress, datapath_->tcEgressFd());
  state.flags |= ST_STATE_TC_EGRESS;
  maps_->setState(state);
  spdlog::info("tc programs attached on {} through {}{}; service port on {}", iface, attachModeName(attachMode_),
               attachMode_ == TcAttachMode::Tcx ? " (links at the head of the chain, not pinned)"
                                                : " (cls_bpf filters, handle/priority 0x5354)",
               portsEitherSide(options) ? "either side (requests may leave by egress: a veth)"
                                        : "the hook's side (requests arrive)");
}

bool responseHeadersOnly(const RunOptions &options) {
  if (std::getenv("SHADOWTAP_CAPTURE_RESPONSES"))
    return false;
  for (const auto &service : options.services)
    if (service.protocol == Protocol::Http)
      return false;
  return true;
}

void Tap::applyRuntime(const RunOptions &options) {
  auto runtime = maps_->runtime();
  runtime.skip_mark = options.skipMark;
  runtime.max_new_conns = options.maxNewConns;
  runtime.max_mirror_bytes = options.maxMirrorBytes;
  runtime.flags = runtimeFlags(options);
  runtime.window_start_ns = runtime.window_conns = runtime.window_bytes = 0; // new budgets, new window
  maps_->setRuntime(runtime);
}

// A pod's host-side veth carries requests to the pod on its egress: on a veth the service port
// is looked for on either side (the hook's first), on anything else only where a server's NIC has it.
// The response cut is read by the ring copy (XDP mode) from each interface's runtime, and by the
// capture socket's filter (TC mode) from the shared one (TapSet::writeSharedRuntime).
uint32_t Tap::runtimeFlags(const RunOptions &options) const {
  bool either = options.direction == Direction::Ports || (options.direction == Direction::Auto && veth_);
  return (either ? ST_RT_PORTS_EITHER_SIDE : 0) | (responseHeadersOnly(options) ? ST_RT_RESPONSE_HEADERS_ONLY : 0);
}

Tap::~Tap() {
  // Programs first (no more clones), then the qdisc, the maps and pins, the mirror pair.
  egress_.reset();
  ingress_.reset();
  xdp_.reset();
  clsact_.reset();
  maps_.reset();
  datapath_.reset();
  pins_.reset();
}

void claimInterface(const std::string &iface, const std::string &bpffs, bool replaceStale) {
  auto existing = findExistingTap(iface, bpffs);
  if (!existing.present)
    return;
  // Policy (docs/architecture.md): refuse while the owner runs; a tap whose agent died is
  // replaced only when asked (--replace-stale), so two agents never share an interface.
  if (existing.agentAlive || !replaceStale)
    throw Error(existing.description);
  spdlog::warn("replacing the tap a previous agent left on {} (--replace-stale)", iface);
  for (const auto &line : detachLeftovers(iface, bpffs))
    spdlog::info("{}", line);
}

ExistingTap findExistingTap(const std::string &iface, const std::string &bpffs) {
  ExistingTap found;
  std::string pinDir = pinDirFor(bpffs, iface);
  int ifindex = ifindexOf(iface);
  bool pinned = pathExists(pinDir);
  bool attached =
      ifindex && (tcFilterPresent(ifindex, TcDirection::Ingress) || tcFilterPresent(ifindex, TcDirection::Egress) ||
                  tcxProgramsPresent(ifindex, TcDirection::Ingress) > 0 ||
                  tcxProgramsPresent(ifindex, TcDirection::Egress) > 0 || xdpProgramPresent(ifindex));
  if (!pinned && !attached)
    return found;
  found.present = true;
  found.agentAlive = true;
  std::string owner;
  if (pinned) {
    try {
      auto pid = static_cast<pid_t>(TapMaps::openPinned(pinDir).state().agent_pid);
      // Our own pid can only be a previous incarnation in another pid namespace (a restarted
      // container is pid 1 again): that agent is gone.
      found.agentAlive = pid > 0 && pid != ::getpid() && ::kill(pid, 0) == 0;
      owner = " by agent pid " + std::to_string(pid) + (found.agentAlive ? " (running)" : " (no longer running)");
    } catch (const Error &) {
    }
  }
  found.description = iface + " is already tapped by shadowtap" + owner +
                      ": stop that agent, or run `shadowtap detach --iface " + iface + "` to remove the tap it left" +
                      (found.agentAlive ? "" : " (or start with --replace-stale)");
  return found;
}

std::vector<std::string> detachLeftovers(const std::string &iface, const std::string &bpffs) {
  std::vector<std::string> done;
  std::string pinDir = pinDirFor(bpffs, iface);
  std::optional<st_state> state;
  if (pathExists(pinDir)) {
    try {
      state = TapMaps::openPinned(pinDir).state();
    } catch (const Error &e) {
      spdlog::warn("{}", e.what());
    }
  }
  if (state && state->agent_pid && static_cast<pid_t>(state->agent_pid) != ::getpid() &&
      ::kill(static_cast<pid_t>(state->agent_pid), 0) == 0) {
    // The agent is alive: ask it to clean up itself rather than pulling its tap from under it.
    spdlog::warn("agent pid {} still runs on {}: detaching anyway", state->agent_pid, iface);
  }

  if (int ifindex = ifindexOf(iface)) {
    if (removeTcFilter(ifindex, TcDirection::Ingress))
      done.push_back("removed tc ingress filter from " + iface);
    if (removeTcFilter(ifindex, TcDirection::Egress))
      done.push_back("removed tc egress filter from " + iface);
    // tcx links end with their agent; only a live agent's are still there.
    if (int n = removeTcxPrograms(ifindex, TcDirection::Ingress))
      done.push_back("detached " + std::to_string(n) + " tcx ingress link(s) from " + iface);
    if (int n = removeTcxPrograms(ifindex, TcDirection::Egress))
      done.push_back("detached " + std::to_string(n) + " tcx egress link(s) from " + iface);
    if (removeXdpProgram(ifindex))
      done.push_back("removed XDP program from " + iface);
    if (state && (state->flags & ST_STATE_CREATED_CLSACT)) {
      if (destroyClsact(ifindex))
        done.push_back("removed clsact qdisc from " + iface);
    }
  }
  if (state && (state->flags & ST_STATE_CREATED_VETH) && state->mirror_iface[0]) {
    std::string mirror(state->mirror_iface, strnlen(state->mirror_iface, sizeof(state->mirror_iface)));
    if (ifindexOf(mirror)) {
      deleteLink(mirror);
      done.push_back("deleted mirror interface " + mirror);
    }
  }
  if (pathExists(pinDir)) {
    removePinDir(pinDir);
    done.push_back("removed pinned maps " + pinDir);
  }
  return done;
}

} // namespace shadowtap
