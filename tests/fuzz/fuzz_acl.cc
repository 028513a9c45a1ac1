// Fuzzes the ACL parser and checks Permits() against a brute-force reading of the same text.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/route/acl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& [lo, hi] : {std::pair<uint32_t, uint32_t>{dmrswitch::route::Acl::kSubTgMin,
                                                             dmrswitch::route::Acl::kSubTgMax},
                               {dmrswitch::route::Acl::kRegMin, dmrswitch::route::Acl::kRegMax}}) {
    auto acl = dmrswitch::route::Acl::Parse(text, lo, hi);
    if (!acl.ok()) {
      if (acl.status().message().empty()) std::abort();  // every refusal says why
      continue;
    }
    // Printing and parsing again must give the same decisions.
    auto again = dmrswitch::route::Acl::Parse(acl->ToString(), lo, hi);
    if (!again.ok()) std::abort();
    for (uint32_t id : {0u, 1u, 2u, 9u, 91u, 3100u, 16776415u, 16776416u, 0xFFFFFFFFu}) {
      if (acl->Permits(id) != again->Permits(id)) std::abort();
    }
  }
  return 0;
}
