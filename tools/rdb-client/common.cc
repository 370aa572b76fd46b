#include "tools/rdb-client/common.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace rdb::cli {

int Fail(const Status& status) {
  std::string msg =
      status.message().empty() ? std::string(CodeName(status.code())) : status.message();
  std::cerr << "rdb-client: " << msg << "\n";
  if (status.code() == Code::kNotFound || status.code() == Code::kFailedPrecondition)
    return kExitNotFound;
  return kExitError;
}

int UsageError(const std::string& message) {
  std::cerr << "rdb-client: " << message << "\n(run rdb-client --help for usage)\n";
  return kExitError;
}

bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

std::string Base64(std::string_view s) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8) |
                 static_cast<uint8_t>(s[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == s.size()) {
    uint32_t v = static_cast<uint8_t>(s[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> FromBase64(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) return Status::InvalidArgument("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    const bool last = i + 4 == s.size();
    const int pad = !last || s[i + 3] != '=' ? 0 : s[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
      int d = k >= 4 - static_cast<size_t>(pad) ? 0 : value(s[i + k]);
      if (d < 0) return Status::InvalidArgument("not base64: byte " + std::to_string(i + k));
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

std::string EventJson(const client::Event& e) {
  nlohmann::ordered_json j;
  bool key_utf8 = IsUtf8(e.key);
  bool payload_utf8 = IsUtf8(e.payload);
  j["seq"] = e.seq;
  j["key"] = key_utf8 ? e.key : Base64(e.key);
  j["key_encoding"] = key_utf8 ? "utf8" : "base64";
  j["version"] = e.version;
  j["kind"] = e.kind == client::Kind::kDelete ? "DELETE" : "PUT";
  j["event_type"] = IsUtf8(e.event_type) ? e.event_type : Base64(e.event_type);
  j["timestamp_ms"] = e.timestamp_ms;
  j["payload"] = payload_utf8 ? e.payload : Base64(e.payload);
  j["payload_encoding"] = payload_utf8 ? "utf8" : "base64";
  return j.dump();
}

namespace {
// Escapes control characters and backslashes so a line stays one line.
std::string Escape(std::string_view s, size_t max_chars, bool* truncated) {
  std::string out;
  size_t chars = 0;
  *truncated = false;
  for (size_t i = 0; i < s.size(); i++) {
    auto c = static_cast<unsigned char>(s[i]);
    bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char) {
      if (chars == max_chars) {
        *truncated = true;
        break;
      }
      chars++;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}
}  // namespace

std::string ShortPayload(std::string_view payload) {
  bool truncated = false;
  std::string out;
  if (IsUtf8(payload)) {
    out = Escape(payload, kShortChars, &truncated);
  } else {
    std::string b64 = Base64(payload.substr(0, kShortChars));
    out = "base64:" + b64.substr(0, kShortChars);
    truncated = payload.size() > kShortChars * 3 / 4;
  }
  if (truncated) out += "...";
  return out;
}

std::string EventLine(const client::Event& e) {
  bool truncated = false;
  std::string key = IsUtf8(e.key) ? Escape(e.key, SIZE_MAX, &truncated) : "base64:" + Base64(e.key);
  std::string line = std::to_string(e.seq) + " " + key + " v" + std::to_string(e.version) + " " +
                     (e.kind == client::Kind::kDelete ? "DELETE" : "PUT");
  if (e.kind == client::Kind::kPut) line += " " + ShortPayload(e.payload);
  return line;
}

namespace {
const char* OpName(client::ChangeOp op) {
  switch (op) {
    case client::ChangeOp::kCreate:
      return "CREATE";
    case client::ChangeOp::kUpdate:
      return "UPDATE";
    case client::ChangeOp::kDelete:
      return "DELETE";
  }
  return "?";
}
}  // namespace

std::string ChangeJson(const client::Change& c) {
  nlohmann::ordered_json j;
  bool key_utf8 = IsUtf8(c.key);
  j["type"] = "change";
  j["seq"] = c.seq;
  j["key"] = key_utf8 ? c.key : Base64(c.key);
  j["key_encoding"] = key_utf8 ? "utf8" : "base64";
  j["version"] = c.version;
  j["op"] = OpName(c.op);
  if (c.after) {
    bool utf8 = IsUtf8(*c.after);
    j["after"] = utf8 ? *c.after : Base64(*c.after);
    j["after_encoding"] = utf8 ? "utf8" : "base64";
  }
  if (c.before) {
    bool utf8 = IsUtf8(*c.before);
    j["before"] = utf8 ? *c.before : Base64(*c.before);
    j["before_encoding"] = utf8 ? "utf8" : "base64";
  }
  j["event_type"] = IsUtf8(c.event_type) ? c.event_type : Base64(c.event_type);
  j["timestamp_ms"] = c.timestamp_ms;
  return j.dump();
}

std::string ChangeLine(const client::Change& c) {
  bool truncated = false;
  std::string key = IsUtf8(c.key) ? Escape(c.key, SIZE_MAX, &truncated) : "base64:" + Base64(c.key);
  std::string line =
      std::to_string(c.seq) + " " + key + " v" + std::to_string(c.version) + " " + OpName(c.op);
  if (c.after) line += " " + ShortPayload(*c.after);
  return line;
}

std::string CheckpointJson(uint64_t seq) {
  nlohmann::ordered_json j;
  j["type"] = "checkpoint";
  j["seq"] = seq;
  return j.dump();
}

std::string GroupJson(const client::GroupInfo& g) {
  nlohmann::ordered_json j;
  j["group"] = g.group;
  j["seq"] = g.seq;
  j["lag"] = g.lag;
  j["active"] = g.active;
  j["updated_ms"] = g.updated_ms;
  return j.dump();
}

std::string GroupDeletedJson(const std::string& group) {
  nlohmann::ordered_json j;
  j["deleted"] = group;
  return j.dump();
}

Result<uint64_t> ParseSeq(const std::string& text) {
  constexpr uint64_t kSeqMax = (1ull << 53) - 1;
  if (text.empty() || text.size() > 16 || text.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("--from must be a seq (a number), got '" + text + "'");
  uint64_t v = std::stoull(text);
  if (v > kSeqMax) return Status::InvalidArgument("--from " + text + " is above 2^53-1");
  return v;
}

void WriteStdout(std::string_view bytes) { std::fwrite(bytes.data(), 1, bytes.size(), stdout); }

}  // namespace rdb::cli
