// SPDX-License-Identifier: Apache-2.0
// How `shadowtap status` and `shadowtap report` reach a running agent: the agent records where
// its local endpoint listens in /run/shadowtap/<iface>.endpoint (root-only, removed on exit), and
// the commands GET a JSON document from it. One short, bounded HTTP/1.0 exchange; every failure
// is an Error that says what to do.
#pragma once

#include <optional>
#include <string>

namespace shadowtap {

std::string endpointFilePath(const std::string &iface);
// `listening` is where the server is bound ("0.0.0.0:9477" is recorded as 127.0.0.1:9477).
void writeEndpointFile(const std::string &iface, const std::string &host, unsigned short port);
void removeEndpointFile(const std::string &iface);
// The recorded "HOST:PORT" / "[V6]:PORT", or nothing if the agent serves no endpoint.
std::optional<std::string> readEndpointFile(const std::string &iface);

// GET http://ADDRESS/PATH; returns the body of a 200 response. Throws Error otherwise.
std::string fetchDocument(const std::string &address, const std::string &path, int timeoutMs = 5000);

} // namespace shadowtap
