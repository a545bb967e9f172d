// SPDX-License-Identifier: Apache-2.0
// The error policy, in one place:
//  - Code that cannot do what it was asked throws shadowtap::Error with a message a user can act
//    on: "failed to VERB OBJECT on IFACE: strerror(errno)". errno is captured at once, before any
//    other call can change it.
//  - Bad user input throws UsageError (exit code 2); everything else Error (exit code 1).
//  - main() prints the message as one line; destructors never throw (they log and go on), so an
//    error half-way through `run` still detaches everything attached so far.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

namespace shadowtap {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
public:
  using Error::Error;
};

// "what: strerror(err)". Accepts libbpf-style negative error codes too.
inline std::string withErrno(const std::string &what, int err) {
  if (err < 0)
    err = -err;
  return what + ": " + std::strerror(err);
}

[[noreturn]] inline void throwErrno(const std::string &what, int err) {
  throw Error(withErrno(what, err));
}

} // namespace shadowtap
