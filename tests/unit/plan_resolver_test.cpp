// SPDX-License-Identifier: Apache-2.0
// Reload's slow half runs off the loop: while a resolution blocks (a slow DNS server), the loop
// keeps running handlers; the finished plan is handed over on the loop's own thread; a failed
// one says why; requests made meanwhile are coalesced (the newest wins).
#include "runtime/plan_resolver.h"

#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <future>

using namespace shadowtap;
namespace asio = boost::asio;

namespace {

RunOptions optionsWithLogLevel(const std::string &level) {
  RunOptions o;
  o.logLevel = level;
  return o;
}

replay::ReplayPlan emptyPlan(const RunOptions &) {
  return {};
}

} // namespace

TEST(PlanResolver, ResolvesOffTheLoopAndHandsTheResultToIt) {
  asio::io_context io;
  PlanResolver resolver(io);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::thread::id resolvedOn, doneOn;
  std::optional<PlanResolver::Result> got;
  resolver.resolve(
      [&] {
        released.wait(); // DNS taking its time
        return optionsWithLogLevel("debug");
      },
      [&](const RunOptions &) {
        resolvedOn = std::this_thread::get_id();
        return replay::ReplayPlan{};
      },
      [&](PlanResolver::Result r) {
        doneOn = std::this_thread::get_id();
        got = std::move(r);
      });
  EXPECT_TRUE(resolver.busy());
  // The loop is free meanwhile: a timer fires while the resolution is blocked.
  int ticks = 0;
  asio::steady_timer timer(io);
  std::function<void()> tick = [&] {
    timer.expires_after(std::chrono::milliseconds(5));
    timer.async_wait([&](const boost::system::error_code &) {
      if (++ticks == 10)
        release.set_value();
      if (!got)
        tick();
    });
  };
  tick();
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_GE(ticks, 10);
  ASSERT_TRUE(got->options);
  EXPECT_EQ(got->options->logLevel, "debug");
  EXPECT_NE(resolvedOn, std::this_thread::get_id()) << "resolved on the loop's thread";
  EXPECT_EQ(doneOn, std::this_thread::get_id()) << "handed over on another thread than the loop's";
  EXPECT_FALSE(resolver.busy());
}

TEST(PlanResolver, AFailureSaysWhy) {
  asio::io_context io;
  PlanResolver resolver(io);
  std::optional<PlanResolver::Result> got;
  resolver.resolve([] { return RunOptions{}; },
                   [](const RunOptions &) -> replay::ReplayPlan {
                     throw std::runtime_error("failed to resolve shadow target nowhere.invalid:80");
                   },
                   [&](PlanResolver::Result r) { got = std::move(r); });
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->options);
  EXPECT_EQ(got->error, "failed to resolve shadow target nowhere.invalid:80");
}

TEST(PlanResolver, RequestsWhileBusyAreCoalescedNewestWins) {
  asio::io_context io;
  PlanResolver resolver(io);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::vector<std::string> done;
  auto record = [&](PlanResolver::Result r) { done.push_back(r.options ? r.options->logLevel : r.error); };
  resolver.resolve(
      [&] {
        released.wait();
        return optionsWithLogLevel("first");
      },
      emptyPlan, record);
  resolver.resolve([] { return optionsWithLogLevel("second"); }, emptyPlan, record);
  resolver.resolve([] { return optionsWithLogLevel("third"); }, emptyPlan, record);
  release.set_value();
  for (int i = 0; i < 500 && done.size() < 2; i++)
    io.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(done, (std::vector<std::string>{"first", "third"}));
}

TEST(PlanResolver, GoingAwayWhileBusyDropsTheResult) {
  asio::io_context io;
  bool called = false;
  {
    PlanResolver resolver(io);
    resolver.resolve([] { return RunOptions{}; }, emptyPlan, [&](PlanResolver::Result) { called = true; });
  } // waits for the worker
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(called);
}
