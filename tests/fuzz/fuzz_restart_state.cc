// The restart state a dmrswitch-cp reads back from a snapshot: any bytes give either a status or a
// state that survives its own encoding unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ctrlplane/restart_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dmrswitch::cp;
  auto state = DecodeRestartState(std::span<const uint8_t>(data, size));
  if (!state.ok()) return 0;
  auto again = DecodeRestartState(EncodeRestartState(*state));
  if (!again.ok() || again->clients != state->clients ||
      again->subscriptions != state->subscriptions || again->heard != state->heard ||
      again->streams_started != state->streams_started) {
    std::abort();
  }
  return 0;
}
