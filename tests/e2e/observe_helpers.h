// What the observability end-to-end tests read a running hub with: DPDK's own
// dpdk-telemetry.py on the dp's telemetry socket, dmrswitch-ctl, and HTTP.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {

// The EAL file prefix of a dp, from its start-up line ("... (dpdk-telemetry.py -f PREFIX; ...").
inline std::string TelemetryPrefix(const std::string& log) {
  const std::string key = "dpdk-telemetry.py -f ";
  const size_t at = log.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return log.substr(start, log.find(';', start) - start);
}

// dpdk-telemetry.py (the script DPDK ships, Debian's dpdk-dev) on `prefix`: each command's
// answer ({"<command>": value}), null when the script failed.
inline std::vector<nlohmann::json> Telemetry(const std::string& prefix,
                                             const std::vector<std::string>& commands,
                                             const std::string& scratch_dir) {
  const std::string in = scratch_dir + "/telemetry.in";
  {
    std::ofstream f(in, std::ios::trunc);
    for (const std::string& c : commands) f << c << "\n";
  }
  const std::string script = "/usr/bin/dpdk-telemetry.py";
  auto r = HubProcess::RunCommand(
      {"sh", "-c", absl::StrCat("python3 ", script, " -f ", prefix, " < ", in)}, absl::Seconds(20));
  std::vector<nlohmann::json> out;
  if (!r.ok() || r->first != 0) return out;
  size_t pos = 0;
  const std::string& text = r->second;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol == std::string::npos ? eol : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

// One telemetry command's value (null on failure).
inline nlohmann::json TelemetryOne(const std::string& prefix, const std::string& command,
                                   const std::string& scratch_dir) {
  const std::vector<nlohmann::json> all = Telemetry(prefix, {command}, scratch_dir);
  const std::string key = command.substr(0, command.find(','));
  for (const nlohmann::json& j : all) {
    if (j.contains(key)) return j[key];
  }
  return nlohmann::json();
}

// dmrswitch-ctl --socket `socket` args...: exit code and output.
inline std::pair<int, std::string> Ctl(const std::string& socket, std::vector<std::string> args) {
  std::vector<std::string> argv = {HubProcess::CtlPath(), "--socket", socket};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = HubProcess::RunCommand(argv, absl::Seconds(20));
  if (!r.ok()) return {-1, std::string(r.status().message())};
  return *r;
}

inline nlohmann::json CtlJson(const std::string& socket, std::vector<std::string> args) {
  args.push_back("--json");
  const auto [rc, out] = Ctl(socket, std::move(args));
  if (rc != 0) return nlohmann::json();
  return nlohmann::json::parse(out, nullptr, false);
}

// GET http://127.0.0.1:port/path: the body, or "" on failure.
inline std::string HttpGet(uint16_t port, const std::string& path, int* status = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto res = c.Get(path.c_str());
  if (status != nullptr) *status = res ? res->status : 0;
  return res && res->status == 200 ? res->body : std::string();
}

// Sum of every sample of `family` (with any labels) on a /metrics page that matches `labels`
// (a substring of the label set, "" for any).
inline double MetricSum(const std::string& page, const std::string& family,
                        const std::string& labels = "") {
  double sum = 0;
  size_t pos = 0;
  while ((pos = page.find(family, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || page[pos - 1] == '\n';
    const size_t eol = page.find('\n', pos);
    const std::string line = page.substr(pos, eol - pos);
    pos = eol == std::string::npos ? page.size() : eol;
    if (!line_start) continue;
    const char next = line.size() > family.size() ? line[family.size()] : ' ';
    if (next != '{' && next != ' ') continue;  // another family with this prefix
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

}  // namespace dmrswitch::e2e
