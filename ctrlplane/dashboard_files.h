// The dashboard's static files (ctrlplane/dashboard/), built into the control plane by
// ctrlplane/dashboard/embed.py: the hub serves them with no files to install and no network.
#pragma once

#include <span>
#include <string_view>

namespace dmrswitch::cp {

struct DashboardFile {
  std::string_view name;  // "index.html"
  std::string_view content_type;
  std::string_view body;
};

std::span<const DashboardFile> DashboardFiles();

}  // namespace dmrswitch::cp
