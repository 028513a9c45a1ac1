#include "ctrlplane/config/secret_files.h"

#include <sys/stat.h>

#include <string_view>

#include "absl/strings/str_format.h"
#include "ctrlplane/config/reload.h"

namespace dmrswitch::cp {
namespace {

// "" when the file is not readable by others (or cannot be stat()ed).
std::string Warning(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0) return "";
  return absl::StrFormat(
      "%s (%s) is readable by every user of this machine (mode %04o): it holds a secret; make "
      "it readable by the hub's user only: chmod o-rwx %s (docs/operations.md)",
      path, what, st.st_mode & 07777, path);
}

}  // namespace

std::vector<std::string> WorldReadableSecretFiles(const HubConfig& config,
                                                  const std::string& config_path) {
  std::vector<std::string> warnings;
  if (!config_path.empty()) {
    if (std::string w = Warning(config_path, "the configuration, with its passphrases");
        !w.empty()) {
      warnings.push_back(std::move(w));
    }
  }
  // Every key whose value names a file holds a secret (a password, a token): the key table's
  // naming rule, so a key added later is covered without being listed here.
  for (const auto& [key, value] : FlattenConfig(config)) {
    if (!key.ends_with("_file") || value.empty()) continue;
    if (std::string w = Warning(value, key); !w.empty()) warnings.push_back(std::move(w));
  }
  return warnings;
}

}  // namespace dmrswitch::cp
