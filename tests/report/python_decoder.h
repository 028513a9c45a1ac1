// Runs tests/report/decode_feed.py (Python's own pickle, a Twisted-rules netstring reader,
// asyncio's readline) and reads back its typed JSON, with helpers to look into it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report::testing {

using nlohmann::json;

inline std::string DecoderPath() {
  const char* path = std::getenv("REPORT_DECODER");
  return path ? path : "tests/report/decode_feed.py";
}

// Runs the decoder with `args`; each output line parsed. *ok is false if it failed.
inline std::vector<json> Decode(const std::vector<std::string>& args, bool* ok,
                                std::string* raw = nullptr,
                                std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  std::vector<std::string> argv = {"python3", DecoderPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output;
  int rc = RunProgram(argv, &output, "/dev/null", limit);
  if (raw) *raw = output;
  *ok = rc == 0;
  std::vector<json> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      *ok = false;
    } else {
      lines.push_back(std::move(j));
    }
  }
  return lines;
}

// Typed values as decode_feed.py writes them.
inline json PyStr(const std::string& s) { return {{"str", s}}; }
inline json PyInt(int64_t v) { return {{"int", std::to_string(v)}}; }
inline json PyBytes(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string h;
  for (unsigned char c : bytes) {
    h += hex[c >> 4];
    h += hex[c & 15];
  }
  return {{"bytes", h}};
}
inline json PyBool(bool b) { return b; }
inline double PyFloat(const json& v) { return std::stod(v.at("float").get<std::string>()); }

// The value under `key` in a typed dict, or null json when absent.
inline json GetKey(const json& dict, const json& key) {
  if (!dict.is_object() || !dict.contains("dict")) return json();
  for (const json& kv : dict["dict"]) {
    if (kv[0] == key) return kv[1];
  }
  return json();
}
inline json Get(const json& dict, const std::string& key) { return GetKey(dict, PyStr(key)); }

// Every str key and str/bytes value anywhere in a typed value.
inline void CollectText(const json& v, std::vector<std::string>* out) {
  if (v.is_object()) {
    if (v.contains("str")) out->push_back(v["str"].get<std::string>());
    for (const char* container : {"list", "tuple"}) {
      if (v.contains(container)) {
        for (const json& item : v[container]) CollectText(item, out);
      }
    }
    if (v.contains("dict")) {
      for (const json& kv : v["dict"]) {
        CollectText(kv[0], out);
        CollectText(kv[1], out);
      }
    }
  }
}

inline std::string BigEndian(uint32_t v, int bytes) {
  std::string b;
  for (int i = bytes - 1; i >= 0; --i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return b;
}

}  // namespace dmrswitch::cp::report::testing
