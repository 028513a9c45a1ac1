// The restart records a dmrswitch-cp reads back from a snapshot (a client's, the hub's): any
// bytes give either a status or a record that survives its own encoding unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ctrlplane/restart_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dmrswitch::cp;
  const std::span<const uint8_t> bytes(data, size);
  if (auto client = DecodeClientRestart(bytes); client.ok()) {
    auto again = DecodeClientRestart(EncodeClientRestart(client->first, client->second));
    if (!again.ok() || again->first != client->first || again->second != client->second) {
      std::abort();
    }
  }
  if (auto hub = DecodeHubRestart(bytes); hub.ok()) {
    auto again = DecodeHubRestart(EncodeHubRestart(*hub));
    if (!again.ok() || *again != *hub) std::abort();
  }
  return 0;
}
