// SPDX-License-Identifier: Apache-2.0
// The slow half of a reload, off the packet path: reading the configuration and resolving its
// shadow targets (DNS, which can take seconds) run on a thread of their own; the finished result
// is handed to the loop that asked (posted to its io_context), which applies it at once.
//
// Built for the control side: whoever owns reload (today the Agent on the one loop; with worker
// threads, the control thread) calls resolve() and gets back a ready plan, never a half-resolved
// one. One resolution at a time; a request made meanwhile is kept (the newest wins) and started
// when the running one ends, so a burst of SIGHUPs costs at most two resolutions.
// Destruction waits for a resolution in progress (the resolver's own timeouts bound it); its
// result is dropped.
#pragma once

#include "config/run_options.h"
#include "replay/replay_plan.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace shadowtap {

class PlanResolver {
public:
  struct Result {
    std::optional<RunOptions> options; // empty: `error` says why
    replay::ReplayPlan plan;
    std::string error;
  };
  using Load = std::function<RunOptions()>;                            // reads the configuration
  using Build = std::function<replay::ReplayPlan(const RunOptions &)>; // parses and resolves its plan
  using Done = std::function<void(Result)>;                            // called on the io_context

  explicit PlanResolver(boost::asio::io_context &io);
  ~PlanResolver();
  PlanResolver(const PlanResolver &) = delete;
  PlanResolver &operator=(const PlanResolver &) = delete;

  void resolve(Load load, Build build, Done done);
  bool busy() const { return running_; }

private:
  struct Request {
    Load load;
    Build build;
    Done done;
  };
  struct Shared; // what the worker thread and the loop share (outlives this on purpose)
  void start(Request request);
  void finished(Result result, Done done);

  boost::asio::io_context &io_;
  std::shared_ptr<Shared> shared_;
  std::thread worker_;
  bool running_ = false;
  std::optional<Request> next_;
  // While a resolution runs the loop has a result to wait for: it must not run out of work.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> pending_;
};

} // namespace shadowtap
