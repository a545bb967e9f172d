// SPDX-License-Identifier: Apache-2.0
// `shadowtap --version`.
#pragma once

#include <string>

namespace shadowtap {

// "shadowtap 0.1.0 (git 3426ba5)": CMake's project(VERSION), and the commit the build tree was
// configured from when it was a git checkout (else just "shadowtap 0.1.0").
std::string versionLine();

} // namespace shadowtap
