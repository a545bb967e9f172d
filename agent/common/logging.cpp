// SPDX-License-Identifier: Apache-2.0
#include "common/logging.h"

#include "common/error.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
extern "C" {
#include <xdp/libxdp.h>
}

namespace shadowtap {

void setLogLevel(const std::string &level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off": only accept "off" when it was asked for.
  if (parsed == spdlog::level::off && level != "off")
    throw UsageError("invalid --log-level '" + level + "': use trace, debug, info, warn, error or off");
  if (!spdlog::get("shadowtap")) // a reload may set the level again
    spdlog::set_default_logger(spdlog::stderr_color_mt("shadowtap"));
  spdlog::set_pattern("%^%L%$ %H:%M:%S.%e %v");
  spdlog::set_level(parsed);
}

namespace {

void emit(bool warning, const char *format, va_list args) {
  // Verifier logs arrive as one very long message: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0)
    return;
  std::string line(static_cast<size_t>(n) + 1, '\0');
  std::vsnprintf(line.data(), line.size(), format, args);
  line.resize(static_cast<size_t>(n));
  while (!line.empty() && line.back() == '\n')
    line.pop_back();
  if (warning)
    spdlog::debug("{}", line);
  else
    spdlog::trace("{}", line);
}

int libbpfPrint(enum libbpf_print_level level, const char *format, va_list args) {
  emit(level == LIBBPF_WARN, format, args);
  return 0;
}

int libxdpPrint(enum libxdp_print_level level, const char *format, va_list args) {
  emit(level == LIBXDP_WARN, format, args);
  return 0;
}

} // namespace

void routeLibraryLogs() {
  libbpf_set_print(libbpfPrint);
  libxdp_set_print(libxdpPrint);
}

} // namespace shadowtap
