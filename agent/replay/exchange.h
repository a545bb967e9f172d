// SPDX-License-Identifier: Apache-2.0
// One mirrored HTTP request ("exchange"), shared by everything that answers it: the primary
// (whose response is seen on the egress tap) and each shadow replay (whose response the replay
// connection reads). Whoever answers second can compare the two status codes; when every holder
// is done the record goes away with its last shared_ptr. With body comparison on, it also holds
// the bodies' digests until they can be judged (pipeline/http_stage.cpp).
#pragma once

#include "compare/body_diff.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace shadowtap::replay {

struct Exchange {
  std::string route;  // "GET /books/{id}"
  std::string method; // the shadow's response framer needs it (HEAD has no body)
  bool primaryAnswered = false;
  unsigned primaryCode = 0;
  // Shadows that answered before the primary did: compared when the primary's answer comes.
  std::vector<std::pair<size_t, unsigned>> earlyShadowCodes; // target index, code

  // Body comparison: null when off. Replays collect their response's body when set.
  std::shared_ptr<compare::MemoryBudget> bodyBudget;
  std::shared_ptr<const compare::BodyCompareSettings> bodySettings;
  size_t baselineTarget = SIZE_MAX; // target index of the baseline, SIZE_MAX: none
  bool primaryBodyDone = false;
  bool baselineDone = false;
  bool noiseKnown = false;
  compare::BodyDigestPtr primaryBody; // null: no body (no response)
  compare::BodyDigestPtr baselineBody;
  std::set<std::string> noise;                                          // this request's primary-vs-baseline paths
  std::vector<std::pair<size_t, compare::BodyDigestPtr>> waitingBodies; // candidates before judgement
};

using ExchangePtr = std::shared_ptr<Exchange>;

// A shadow's answer (or non-answer) to one exchange, timed by the replay connection.
struct ShadowResponse {
  size_t target = 0;
  unsigned code = 0;        // 0: the replay ended before a response came
  uint64_t firstByteNs = 0; // from when the shadow could start on it (see shadow_connection.h)
  uint64_t lastByteNs = 0;
  compare::BodyDigestPtr body; // with body comparison on and a response
};

class ExchangeObserver {
public:
  virtual ~ExchangeObserver() = default;
  virtual void onShadowResponse(Exchange &exchange, const ShadowResponse &response) = 0;
  // A shadow answered when no request was waiting for an answer: not compared.
  virtual void onShadowUnpaired() = 0;
  // A replay gave up comparing (too many unanswered requests): these requests stay uncompared.
  virtual void onComparisonsAbandoned(size_t requests) = 0;
};

} // namespace shadowtap::replay
