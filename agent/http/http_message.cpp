// SPDX-License-Identifier: Apache-2.0
#include "http/http_message.h"

#include <algorithm>
#include <cctype>

namespace shadowtap::http {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

const Header *MessageHead::find(std::string_view name) const {
  for (const auto &header : headers)
    if (equalsIgnoreCase(header.name, name))
      return &header;
  return nullptr;
}

std::string_view MessageHead::path() const {
  std::string_view view = target;
  auto end = view.find_first_of("?#");
  return end == std::string_view::npos ? view : view.substr(0, end);
}

} // namespace shadowtap::http
