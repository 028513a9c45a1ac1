// config_check: does the hub's own parser (cp::ParseConfig) accept a configuration file? The
// importer's tests run every file dmrswitch-import writes through it, so "dmrswitch accepts the
// output" is decided by dmrswitch's code, not by a second reading of docs/config.md.
//
//   config_check FILE
//
// Accepted: prints "ok" and a few values as the parser read them (for the tests to compare with
// their own reading of the TOML), exit 0. Refused: prints the parser's message, exit 1. Exit 2 on
// a usage or file error.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "ctrlplane/config/config.h"

namespace {

void PrintSummary(const dmrswitch::cp::HubConfig& c) {
  using dmrswitch::cp::FormatEndpoint;
  std::cout << "ok\n";
  std::cout << "hub.server_id " << c.hub.server_id << "\n";
  std::cout << "hbp.listen " << FormatEndpoint(c.hbp.listen) << "\n";
  std::cout << "hbp.max_clients " << c.hbp.max_clients << "\n";
  std::cout << "hbp.static " << c.hbp.statics.size() << "\n";
  std::cout << "acl.reg " << c.acl.reg.ToString() << "\n";
  std::cout << "acl.sub " << c.acl.sub.ToString() << "\n";
  std::cout << "acl.tg_ts1 " << c.acl.tg[0].ToString() << "\n";
  std::cout << "acl.tg_ts2 " << c.acl.tg[1].ToString() << "\n";
  for (const dmrswitch::cp::ObpPeer& p : c.obp) {
    std::cout << "obp " << p.name << " " << FormatEndpoint(p.listen) << " "
              << FormatEndpoint(p.target) << " v" << static_cast<int>(p.version) << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: config_check FILE\n";
    return 2;
  }
  const std::string path = argv[1];
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "config_check: cannot read " << path << "\n";
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const absl::StatusOr<dmrswitch::cp::HubConfig> config =
      dmrswitch::cp::ParseConfig(text.str(), path);
  if (!config.ok()) {
    std::cout << config.status().message() << "\n";
    return 1;
  }
  PrintSummary(*config);
  return 0;
}
