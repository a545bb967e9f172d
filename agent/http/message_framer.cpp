// SPDX-License-Identifier: Apache-2.0
// How the framer learns exact byte boundaries from http-parser 2.9.4 without copying bodies:
//  - on_headers_complete pauses the parser. http_parser_execute then returns the offset of the
//    head's last byte *without consuming it*: the head is [start, ret]. We hand the head out,
//    resume, and feed again from that byte (the parser still has to run its s_headers_done step on
//    it); it is already out, so the body starts one byte later. The last byte is the blank line's
//    LF — or any byte after its CR: Debian builds http-parser with HTTP_PARSER_STRICT=0.
//  - on_message_complete pauses too; execute then returns the offset just past the message.
//  - on_chunk_header pauses on the last chunk (size 0), so we know where the trailers start.
//  Everything between the head and the last chunk is handed out raw as body (chunk framing
//  included); on_body is not used. A trailer section is held until it ends and handed out whole
//  (onTrailers), so header rules can apply to its fields; on a parse error it leaves as
//  passthrough like a held head.
// Limits: http-parser counts header bytes with bulk steps in its fast paths, so the byte where it
// reports an overflow depends on how the input was split. We enforce our own limit, one byte under
// its 80 KiB (the resumed byte is counted twice), by never feeding a head or trailer section more
// than that: the overflow then always happens at the same byte, and the parser never sees one.
// Between messages the framer resets the parser, whatever the last message's keep-alive said: a
// peer that keeps sending after "Connection: close" is still framed (the peer will drop it).
// The shared HeadBudget is charged with the head bytes held (the `head` vector's size), before
// they are held; they are given back when the head is handed out, abandoned, or the framer dies.
// on_body (the decoded content) fires inside http_parser_execute, so a content view comes out
// before the raw body span that holds it; pauses never re-feed body bytes, so none comes twice.
#include "http/message_framer.h"

#include "common/enum_names.h"

#include <http_parser.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace shadowtap::http {

namespace {

constexpr size_t kMaxSectionBytes = HTTP_MAX_HEADER_SIZE - 1;

bool isLineEnd(uint8_t byte) {
  return byte == '\r' || byte == '\n';
}

std::string trimmed(const std::string &s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

} // namespace

struct MessageFramer::Impl {
  enum class Mode { Idle, Head, Body, Passthrough };
  enum class Pause { None, HeadersComplete, LastChunk, MessageComplete };
  enum class LastCallback { None, Field, Value };

  Impl(MessageKind kind, FramerListener &listener, FramerStats &stats, HeadBudget *budget)
      : kind(kind), listener(listener), stats(stats), budget(budget) {
    http_parser_settings_init(&settings);
    settings.on_message_begin = [](http_parser *p) { return self(p)->onMessageBegin(); };
    settings.on_url = [](http_parser *p, const char *at, size_t n) { return self(p)->onUrl(at, n); };
    settings.on_status = [](http_parser *p, const char *at, size_t n) { return self(p)->onStatus(at, n); };
    settings.on_header_field = [](http_parser *p, const char *at, size_t n) { return self(p)->onField(at, n); };
    settings.on_header_value = [](http_parser *p, const char *at, size_t n) { return self(p)->onValue(at, n); };
    settings.on_headers_complete = [](http_parser *p) { return self(p)->onHeadersComplete(); };
    settings.on_chunk_header = [](http_parser *p) { return self(p)->onChunkHeader(); };
    settings.on_body = [](http_parser *p, const char *at, size_t n) { return self(p)->onBodyData(at, n); };
    settings.on_message_complete = [](http_parser *p) { return self(p)->onMessageComplete(); };
    parser.data = this;
    resetParser();
  }

  ~Impl() { releaseHead(); }

  static Impl *self(http_parser *p) { return static_cast<Impl *>(p->data); }

  MessageKind kind;
  FramerListener &listener;
  FramerStats &stats;
  HeadBudget *budget;
  size_t charged = 0;     // head bytes charged to the budget
  uint64_t handedOut = 0; // bytes handed out so far (position())
  http_parser parser{};
  http_parser_settings settings{};
  std::deque<std::string> methods; // requests whose responses have not started yet

  Mode mode = Mode::Idle;
  bool finished = false;
  bool begun = false;        // onMessageBegin fired, onMessageEnd not yet
  Pause pause = Pause::None; // why the parser paused itself
  uint64_t offset = 0;       // stream offset of the bytes being processed
  const char *execData = nullptr;
  uint64_t execOffset = 0; // stream offset of execData (to see folded header lines)
  size_t resumeOut = 0;    // bytes at the start of the next body step that are already out

  // The message being framed.
  std::vector<uint8_t> head; // raw head bytes so far (bounded by kMaxSectionBytes)
  MessageHead parsed;
  LastCallback last = LastCallback::None;
  uint64_t valueEnd = 0;     // stream offset just past the last header value piece
  bool folding = false;      // inside a folded continuation line, before its first text
  bool upgradeAfter = false; // the stream stops being HTTP when this message ends
  bool inTrailers = false;
  size_t trailerBytes = 0;

  void resetParser() { http_parser_init(&parser, kind == MessageKind::Request ? HTTP_REQUEST : HTTP_RESPONSE); }

  size_t execute(const uint8_t *p, size_t n) {
    execData = reinterpret_cast<const char *>(p);
    execOffset = offset;
    return http_parser_execute(&parser, &settings, execData, n);
  }

  void pass(const uint8_t *p, size_t n) {
    if (n > 0) {
      handedOut += n;
      listener.onPassthrough({p, n});
    }
  }
  void body(const uint8_t *p, size_t n) {
    if (n > 0) {
      handedOut += n;
      listener.onBody({p, n});
    }
  }

  // Holds n more head bytes, if the budget has room for them.
  bool chargeHead(size_t n) {
    if (budget && !budget->take(n))
      return false;
    charged += budget ? n : 0;
    return true;
  }
  void releaseHead() {
    if (budget && charged)
      budget->give(charged);
    charged = 0;
  }

  void feed(const uint8_t *p, size_t n) {
    while (n > 0 && !finished) {
      size_t used = 0;
      switch (mode) {
      case Mode::Passthrough:
        pass(p, n);
        used = n;
        break;
      case Mode::Idle:
        used = idle(p, n);
        break;
      case Mode::Head:
        used = headStep(p, n);
        break;
      case Mode::Body:
        used = bodyStep(p, n, std::exchange(resumeOut, 0));
        break;
      }
      p += used;
      n -= used;
      offset += used;
    }
  }

  // Between messages, http-parser skips CR/LF; they belong to no message, so they go out as
  // passthrough at once (a client's stray CRLF after a POST body must not start a message).
  size_t idle(const uint8_t *p, size_t n) {
    size_t k = 0;
    while (k < n && isLineEnd(p[k]))
      k++;
    pass(p, k);
    if (k < n) {
      mode = Mode::Head;
      head.clear();
      parsed = MessageHead{};
      parsed.isRequest = kind == MessageKind::Request;
      last = LastCallback::None;
      folding = false;
      upgradeAfter = false;
      inTrailers = false;
    }
    return k;
  }

  size_t headStep(const uint8_t *p, size_t n) {
    size_t room = kMaxSectionBytes - head.size();
    if (room == 0)
      return fail(p, n); // the head is longer than the limit
    size_t take = std::min(n, room);
    size_t ret = execute(p, take);
    auto err = HTTP_PARSER_ERRNO(&parser);
    if (err == HPE_OK && ret == take) {
      if (!chargeHead(take))
        return fail(p, n, NotHttp::HeadBudget);
      head.insert(head.end(), p, p + take);
      return take;
    }
    if (err != HPE_PAUSED || pause != Pause::HeadersComplete)
      return fail(p, n);
    // The head is complete: handed out at once, so only what must wait for more bytes is
    // charged (a complete head in one feed costs nothing).
    head.insert(head.end(), p, p + ret + 1);
    pause = Pause::None;
    http_parser_pause(&parser, 0);
    stats.messages++;
    handedOut += head.size();
    listener.onHead(parsed, head);
    head.clear();
    releaseHead();
    mode = Mode::Body;
    resumeOut = 1; // the parser resumes on the head's last byte, which is already out
    return ret;
  }

  // `out`: bytes at p already handed out (the head's last byte, fed again to the parser).
  size_t bodyStep(const uint8_t *p, size_t n, size_t out) {
    size_t take = n;
    if (inTrailers) {
      size_t budget = kMaxSectionBytes - trailerBytes;
      if (budget == 0)
        return fail(p, n); // trailers longer than the limit: the message is abandoned here
      take = std::min(n, budget);
    }
    size_t ret = execute(p, take);
    auto err = HTTP_PARSER_ERRNO(&parser);
    if (err == HPE_OK && ret == take) {
      if (inTrailers) {
        if (!holdTrailers(p + out, take - out))
          return fail(p, n, NotHttp::HeadBudget);
        trailerBytes += take;
      } else {
        body(p + out, take - out);
      }
      return take;
    }
    if (err == HPE_PAUSED && ret >= out && (pause == Pause::LastChunk || pause == Pause::MessageComplete)) {
      if (inTrailers) { // the trailer section ended: handed out whole, so rules can see its fields
        if (!holdTrailers(p + out, ret - out))
          return fail(p, n, NotHttp::HeadBudget);
        handedOut += head.size();
        listener.onTrailers(head);
        head.clear();
        releaseHead();
      } else {
        body(p + out, ret - out);
      }
      http_parser_pause(&parser, 0);
      if (std::exchange(pause, Pause::None) == Pause::LastChunk) {
        inTrailers = true;
        trailerBytes = 0;
      } else {
        endMessage();
      }
      return ret;
    }
    // An error in a trailer section: the section is not handed out as trailers, so the part held
    // and the part in this feed leave together, in stream order, as passthrough (like a bad head).
    if (inTrailers)
      return out + fail(p + out, n - out);
    // An error in the body: what came before the offending byte was body, the rest is not HTTP.
    size_t good = std::clamp(ret, out, take);
    if (err == HPE_OK || err == HPE_PAUSED)
      good = out; // not expected from http-parser; keep every byte anyway
    body(p + out, good - out);
    return good + fail(p + good, n - good);
  }

  // A trailer section is held (in `head`, charged to the head budget like a head) until it ends.
  bool holdTrailers(const uint8_t *p, size_t n) {
    if (!chargeHead(n))
      return false;
    head.insert(head.end(), p, p + n);
    return true;
  }

  void endMessage() {
    begun = false;
    listener.onMessageEnd();
    if (upgradeAfter) {
      stats.upgrades = 1;
      mode = Mode::Passthrough;
      listener.onNotHttp(NotHttp::Upgrade);
    } else {
      mode = Mode::Idle;
      resetParser();
    }
  }

  // Parse error (or no budget): the buffered head and everything from p on leave as passthrough.
  size_t fail(const uint8_t *p, size_t n, NotHttp reason = NotHttp::ParseError) {
    (reason == NotHttp::HeadBudget ? stats.overBudget : stats.parseErrors) = 1;
    begun = false;
    mode = Mode::Passthrough;
    listener.onNotHttp(reason);
    pass(head.data(), head.size());
    head.clear();
    releaseHead();
    pass(p, n);
    return n;
  }

  void finish() {
    if (finished)
      return;
    if (mode == Mode::Head) {
      // The stream ended inside a head: its bytes still come out; the message stays unfinished.
      if (!head.empty())
        listener.onNotHttp(NotHttp::Truncated);
      pass(head.data(), head.size());
      head.clear();
      releaseHead();
    } else if (mode == Mode::Body) {
      execute(nullptr, 0); // ends a close-delimited body (on_message_complete), else a no-op
      if (std::exchange(pause, Pause::None) == Pause::MessageComplete) {
        endMessage();
      } else if (inTrailers && !head.empty()) {
        // The stream ended inside a trailer section: its bytes still come out, as for a head.
        listener.onNotHttp(NotHttp::Truncated);
        pass(head.data(), head.size());
        head.clear();
        releaseHead();
      }
    }
    finished = true;
  }

  // http-parser callbacks. Header callbacks also fire for chunked trailers: those are body bytes.
  int onMessageBegin() {
    begun = true;
    listener.onMessageBegin();
    return 0;
  }
  int onUrl(const char *at, size_t n) {
    parsed.target.append(at, n);
    return 0;
  }
  int onStatus(const char *at, size_t n) {
    parsed.reason.append(at, n);
    return 0;
  }
  int onField(const char *at, size_t n) {
    if (mode != Mode::Head)
      return 0;
    if (last != LastCallback::Field)
      parsed.headers.emplace_back();
    folding = false;
    parsed.headers.back().name.append(at, n);
    last = LastCallback::Field;
    return 0;
  }
  int onValue(const char *at, size_t n) {
    if (mode != Mode::Head || parsed.headers.empty())
      return 0;
    uint64_t start = execOffset + static_cast<uint64_t>(at - execData);
    auto &value = parsed.headers.back().value;
    // A piece that does not continue the previous one starts a folded line (obs-fold): the fold
    // and the whitespace around it become one space (RFC 7230 3.2.4), added before the next text.
    if (last == LastCallback::Value && start != valueEnd) {
      value = trimmed(value);
      folding = true;
    }
    std::string_view piece(at, n);
    if (folding) {
      auto text = piece.find_first_not_of(" \t");
      piece = text == std::string_view::npos ? std::string_view{} : piece.substr(text);
      if (!piece.empty()) {
        value.push_back(' ');
        folding = false;
      }
    }
    value.append(piece);
    valueEnd = start + n;
    last = LastCallback::Value;
    return 0;
  }

  int onHeadersComplete() {
    for (auto &header : parsed.headers)
      header.value = trimmed(header.value);
    parsed.versionMajor = parser.http_major;
    parsed.versionMinor = parser.http_minor;
    upgradeAfter = parser.upgrade;
    bool skipBody = false;
    if (kind == MessageKind::Request) {
      parsed.method = http_method_str(static_cast<http_method>(parser.method));
      // http-parser rejects a request with a non-chunked Transfer-Encoding only after the head;
      // reject it here so that a head is only handed out for a message we can frame.
      if (parser.uses_transfer_encoding && !(parser.flags & F_CHUNKED) && !parser.upgrade)
        return -1;
    } else {
      unsigned status = parser.status_code;
      parsed.status = status;
      if (status / 100 == 1 && status != 101) {
        skipBody = true; // interim (100 Continue...): the request still waits for its response
      } else {
        std::string method = "GET";
        if (!methods.empty()) {
          method = std::move(methods.front());
          methods.pop_front();
        }
        bool connectOk = equalsIgnoreCase(method, "CONNECT") && status / 100 == 2;
        upgradeAfter = upgradeAfter || status == 101 || connectOk;
        skipBody = upgradeAfter || status == 204 || status == 304 || equalsIgnoreCase(method, "HEAD");
      }
    }
    if (skipBody)
      parser.flags |= F_SKIPBODY; // set now so that http_should_keep_alive sees it (returning 1 sets it too)
    parsed.keepAlive = http_should_keep_alive(&parser) != 0;
    parsed.upgrade = upgradeAfter;
    pause = Pause::HeadersComplete;
    http_parser_pause(&parser, 1);
    return skipBody ? 1 : 0;
  }

  int onBodyData(const char *at, size_t n) {
    if (n > 0)
      listener.onBodyContent({reinterpret_cast<const uint8_t *>(at), n});
    return 0;
  }

  int onChunkHeader() {
    if (parser.content_length == 0) {
      pause = Pause::LastChunk;
      http_parser_pause(&parser, 1);
    }
    return 0;
  }

  int onMessageComplete() {
    pause = Pause::MessageComplete;
    http_parser_pause(&parser, 1);
    return 0;
  }
};

// Impl only keeps a reference to stats_ (declared after impl_), it does not read it while built.
MessageFramer::MessageFramer(MessageKind kind, FramerListener &listener, HeadBudget *budget)
    : impl_(std::make_unique<Impl>(kind, listener, stats_, budget)) {}

MessageFramer::~MessageFramer() = default;

void MessageFramer::feed(std::span<const uint8_t> bytes) {
  impl_->feed(bytes.data(), bytes.size());
}

void MessageFramer::finish() {
  impl_->finish();
}

void MessageFramer::expectResponseTo(std::string_view method) {
  if (impl_->kind == MessageKind::Response)
    impl_->methods.emplace_back(method);
}

bool MessageFramer::passthrough() const {
  return impl_->mode == Impl::Mode::Passthrough;
}

uint64_t MessageFramer::position() const {
  return impl_->handedOut;
}

const char *notHttpName(NotHttp reason) {
  static constexpr EnumName<NotHttp> kNames[] = {{NotHttp::ParseError, "parse_error"}, {NotHttp::Upgrade, "upgrade"},
                                                 {NotHttp::HeadBudget, "head_budget"}, {NotHttp::Truncated, "truncated"}};
  return nameOf(kNames, reason);
}

bool MessageFramer::inMessage() const {
  return impl_->begun;
}

} // namespace shadowtap::http
