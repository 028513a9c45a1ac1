// Files that hold the hub's secrets and that any user of the machine may read.
#pragma once

#include <string>
#include <vector>

#include "ctrlplane/config/config.h"

namespace dmrswitch::cp {

// The configuration file (it holds passphrases) and the file of every `*_file` key that is set
// (report.mqtt_password_file, report.api_token_file, ...), each one that is readable by every
// user: one warning per file naming it, the key that names it and its mode, and the fix. A file
// that cannot be stat()ed is left to whoever reads it (it fails naming the file). `config_path`
// "" = the embedded default (no file).
std::vector<std::string> WorldReadableSecretFiles(const HubConfig& config,
                                                  const std::string& config_path);

}  // namespace dmrswitch::cp
