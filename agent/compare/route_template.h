// SPDX-License-Identifier: Apache-2.0
// Collapses a request into the route it belongs to, so that /books/17/reviews and
// /books/42/reviews are counted together: "GET /books/{id}/reviews". The query string is dropped;
// path segments that look like identifiers (decimal numbers, UUIDs, hashes and other long hex,
// long mixed letter+digit and base64 tokens, dates and other digit groups) become {id}: a
// route's cardinality is the service's, not its users'. Unusual methods are kept but bounded in length.
#pragma once

#include <string>
#include <string_view>

namespace shadowtap::compare {

std::string routeOf(std::string_view method, std::string_view target);

} // namespace shadowtap::compare
