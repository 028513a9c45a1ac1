// Fuzzes the control plane's parsers and state machines with what a stranger can send: the HBP
// login state machine (any sequence of datagrams from a few addresses, time moving on), the
// OpenBridge link state (BCKA/BCVE/BCST/DMRD of any shape), the options string, and — since
// operators write it by hand — the configuration file. Invariants: nothing crashes, memory stays
// bounded, and every refusal says why.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ctrlplane/config/config.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/login/obp_links.h"
#include "ctrlplane/subscriptions/options.h"
#include "ctrlplane/subscriptions/subscriptions.h"

namespace {

using namespace dmrswitch;

void FuzzAuthAndLinks(const uint8_t* data, size_t size) {
  cp::HbpAuthSettings s;
  s.passphrase = "passw0rd";
  s.max_clients = 4;
  s.max_tracked = 8;
  s.max_pending = 4;
  s.login_burst = 6;
  s.seed = 1;
  cp::HbpAuth auth(s);
  route::PeerSpec peer;
  peer.name = "p";
  peer.version = 5;
  peer.passphrase = "mypass";
  peer.network_id = 310998;
  peer.target = route::Endpoint{0x7F000001, 62036};
  cp::ObpLinks links({peer});
  cp::Subscriptions subs(cp::SubscriptionSettings{});
  cp::Outbox out;
  std::vector<cp::AuthChange> changes;
  route::TimeNs now = 1'000 * route::kSec;
  size_t i = 0;
  while (i + 2 <= size) {
    const uint8_t op = data[i];
    const uint8_t len = data[i + 1];
    i += 2;
    const size_t n = std::min<size_t>(len, size - i);
    const proto::ByteSpan pkt(data + i, n);
    i += n;
    const route::Endpoint from{0x7F000001u + (op & 3u), static_cast<uint16_t>(40000 + (op >> 6))};
    switch ((op >> 2) & 7) {
      case 0:
      case 1:
      case 2:
        auth.OnPacket(pkt, from, now, &out, &changes);
        break;
      case 3:
        links.OnPacket(0, pkt, from, now, &out);
        break;
      case 4:
        now += route::TimeNs{len} * 100 * route::kMs;
        auth.Expire(now, &out, &changes);
        links.Tick(now, &out);
        break;
      case 5:
        if (n >= 4)
          auth.OnClientLost(pkt[0] | (pkt[1] << 8) | (pkt[2] << 16) | (pkt[3] << 24), now, &out,
                            &changes);
        break;
      default: {
        std::vector<std::string> warnings;
        for (const cp::AuthChange& c : changes) {
          if (c.kind == cp::AuthChange::kClientUp) subs.OnClientUp(c.id, c.slot, c.slot_mask, now);
          if (c.kind == cp::AuthChange::kClientDown) subs.OnClientDown(c.id);
        }
        changes.clear();
        for (const cp::ClientRecord* c : auth.Clients()) {
          (void)subs.ApplyOptions(c->id,
                                  std::string_view(reinterpret_cast<const char*>(pkt.data()), n),
                                  now, &warnings);
        }
        break;
      }
    }
    // Bounded: at most max_clients logged in, replies only as many as packets.
    if (auth.size() > s.max_clients || auth.pending_size() > s.max_pending ||
        auth.tracked() > s.max_tracked) {
      std::abort();
    }
    out.clear();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto opts = cp::ParseOptions(text);
  if (!opts.ok() && opts.status().message().empty()) std::abort();
  auto config = cp::ParseConfig(text, "fuzz.toml");
  if (!config.ok() && config.status().message().empty()) std::abort();
  if (config.ok()) {
    (void)cp::MakeHubPolicy(*config);
    (void)cp::MakePeerSpecs(*config);
  }
  FuzzAuthAndLinks(data, size);
  return 0;
}
