// Subscriptions: statics, user-activated TGs, single mode, dial-a-TG, driven by a clock and the
// shard's events. Every scenario step builds a real RouteSnapshot (clients added first, then
// Subscriptions::AddTo) and checks its conferences and IsMember exactly.

#include "ctrlplane/subscriptions/subscriptions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/route/events.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {
namespace {

using route::ActivateOn;
using route::Event;
using route::EventType;
using route::kSec;
using route::RouteSnapshot;
using route::RouteSnapshotBuilder;
using route::SubscriptionAction;
using route::TimeNs;
using ::testing::HasSubstr;

constexpr uint32_t kCapacity = 8;
constexpr uint32_t A = 3120001;
constexpr uint32_t B = 3120002;
constexpr uint32_t C = 3120003;
// The TGs scenarios use: conferences and IsMember are checked over all of them.
const std::vector<uint32_t> kUniverse = {91, 92, 235, 262, 1234, 2350, 3100, 3101, 9990};

SubscriptionSettings Settings(bool single, ActivateOn on = ActivateOn::kStart,
                              uint32_t timer_min = 10,
                              absl::flat_hash_map<uint32_t, TgsBySlot> statics = {}) {
  SubscriptionSettings s;
  s.single_mode = single;
  s.activate_on = on;
  s.default_ua_timer = TimeNs{timer_min} * 60 * kSec;
  s.statics = std::move(statics);
  return s;
}

route::ClientSpec Spec(uint32_t id, uint8_t mask) {
  route::ClientSpec c;
  c.id = id;
  c.addr = route::Endpoint{0x7F000001u, static_cast<uint16_t>(40000 + id % 1000)};
  c.slot_mask = mask;
  return c;
}

struct UpClient {
  uint32_t slot;
  uint8_t mask;
};

std::shared_ptr<const RouteSnapshot> BuildSnapshot(const Subscriptions& subs,
                                                   const std::map<uint32_t, UpClient>& up,
                                                   uint64_t generation) {
  RouteSnapshotBuilder b(route::HubPolicy{}, kCapacity);
  for (const auto& [id, u] : up) {
    absl::Status s = b.AddClient(u.slot, Spec(id, u.mask));
    EXPECT_TRUE(s.ok()) << s;
  }
  absl::Status s = subs.AddTo(&b);
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<std::shared_ptr<const RouteSnapshot>> snap = b.Build(generation);
  EXPECT_TRUE(snap.ok()) << snap.status();
  return snap.ok() ? *snap : nullptr;
}

// "91=0:TS1 1:TS2; 262=0:TS2/9" over kUniverse: the client members of each conference.
std::string Dump(const RouteSnapshot& snap) {
  std::vector<std::string> confs;
  for (uint32_t tg : kUniverse) {
    std::vector<std::string> members;
    for (const route::Destination& d : snap.FindConference(tg).members) {
      if (!d.to.is_client()) continue;
      std::string m = absl::StrCat(d.to.index, ":TS", d.ts + 1);
      if (d.tg != tg) absl::StrAppend(&m, "/", d.tg);
      members.push_back(m);
    }
    if (!members.empty()) confs.push_back(absl::StrCat(tg, "=", absl::StrJoin(members, " ")));
  }
  return absl::StrJoin(confs, "; ");
}

// IsMember must be true exactly for the (slot, ts, TG on the client) of the conference members.
void CheckIsMember(const RouteSnapshot& snap) {
  std::set<std::tuple<uint32_t, unsigned, uint32_t>> expected;
  for (uint32_t tg : kUniverse) {
    for (const route::Destination& d : snap.FindConference(tg).members) {
      if (d.to.is_client()) expected.emplace(d.to.index, d.ts, d.tg);
    }
  }
  std::vector<uint32_t> tgs = kUniverse;
  tgs.push_back(route::kDialTg);
  for (uint32_t slot = 0; slot < kCapacity; ++slot) {
    for (unsigned ts = 0; ts < 2; ++ts) {
      for (uint32_t tg : tgs) {
        EXPECT_EQ(snap.IsMember(slot, ts, tg), expected.contains({slot, ts, tg}))
            << "IsMember(" << slot << ", TS" << ts + 1 << ", " << tg << ")";
      }
    }
  }
}

std::string Never() { return "never"; }

// One step: at `t` seconds, Expire(now) then `op`; then the snapshot must dump as `expect`.
//   up ID SLOT MASK | down ID | opt ID TEXT | opt! ID TEXT (must fail) | tick
//   ua ID TS TG | dial ID TG | unlink ID | status ID | reject ID TG       (SubscriptionRequest)
//   start|end|lost ID TS DST  (group call; TG 9 on TS2 resolves to the client's dial link)
// A trailing "#N" names the event's stream ID (else every step has a stream ID of its own).
// TS is 1 or 2. `ua` lists "SLOT:TS:TG@SECONDS" (or @never) checked with UaExpiry; `changed`
// (-1 = don't care) is TakeChanged() after the step; `warning` must be a substring of a warning.
struct Step {
  uint64_t t;
  std::string op;
  std::string expect;
  std::string ua = "";
  int changed = -1;
  std::string warning = "";
};

struct Scenario {
  std::string name;
  SubscriptionSettings settings;
  std::vector<Step> steps;
};

class Runner {
 public:
  explicit Runner(const Scenario& sc) : sc_(sc), subs_(sc.settings) {}

  void Run() {
    snap_ = BuildSnapshot(subs_, up_, ++generation_);
    for (size_t i = 0; i < sc_.steps.size(); ++i) {
      const Step& st = sc_.steps[i];
      SCOPED_TRACE(absl::StrCat(sc_.name, " step ", i, " t=", st.t, " \"", st.op, "\""));
      now_ = st.t * kSec;
      std::vector<std::string> warnings;
      subs_.Expire(now_);
      Do(st.op, &warnings);
      for (std::string& w : subs_.TakeWarnings()) warnings.push_back(std::move(w));
      if (!st.warning.empty()) {
        EXPECT_THAT(warnings, testing::Contains(HasSubstr(st.warning)));
      }
      const bool changed = subs_.TakeChanged();
      if (st.changed >= 0) {
        EXPECT_EQ(changed, st.changed == 1);
      }
      snap_ = BuildSnapshot(subs_, up_, ++generation_);
      ASSERT_NE(snap_, nullptr);
      EXPECT_EQ(Dump(*snap_), st.expect);
      CheckIsMember(*snap_);
      CheckUa(st.ua);
      // Export/Restore round trip keeps everything.
      Subscriptions copy(sc_.settings);
      const std::vector<RestoredClient> exported = subs_.Export();
      copy.Restore(exported, now_);
      EXPECT_EQ(copy.Views(), subs_.Views());
      EXPECT_EQ(copy.Export(), exported);
    }
  }

 private:
  void CheckUa(const std::string& spec) {
    if (spec.empty()) return;
    std::istringstream in(spec);
    std::string item;
    while (in >> item) {
      uint32_t slot = 0, ts = 0, tg = 0;
      char at[16] = {};
      ASSERT_EQ(std::sscanf(item.c_str(), "%u:%u:%u@%15s", &slot, &ts, &tg, at), 4) << item;
      const TimeNs want = std::string(at) == Never() ? kNever : std::stoull(at) * kSec;
      EXPECT_EQ(snap_->UaExpiry(slot, ts - 1, tg), want) << item;
    }
  }

  uint32_t SlotOf(uint32_t id) const {
    auto it = up_.find(id);
    return it == up_.end() ? kCapacity - 1 : it->second.slot;  // stale events use a wrong slot
  }

  Event Ev(EventType type, uint32_t id, unsigned ts, uint32_t dst, uint32_t tg,
           SubscriptionAction action = SubscriptionAction::kNone, uint8_t call_type = 0) {
    Event e;
    e.type = type;
    e.action = action;
    e.ts = static_cast<uint8_t>(ts);
    e.call_type = call_type;
    e.source = route::SystemRef::Client(SlotOf(id));
    e.source_id = id;
    e.stream_id = stream_id_ != 0 ? stream_id_ : 0x1000 + static_cast<uint32_t>(generation_);
    e.rf_src = 3120000;
    e.dst = dst;
    e.tg = tg;
    e.at = now_;
    return e;
  }

  void Do(const std::string& op, std::vector<std::string>* warnings) {
    stream_id_ = 0;
    if (const size_t hash = op.find('#'); hash != std::string::npos) {
      stream_id_ = static_cast<uint32_t>(std::stoul(op.substr(hash + 1)));
    }
    std::istringstream in(op.substr(0, op.find('#')));
    std::string verb;
    in >> verb;
    uint32_t id = 0, a = 0, b = 0;
    if (verb == "tick") return;
    in >> id;
    if (verb == "up") {
      in >> a >> b;
      for (auto it = up_.begin(); it != up_.end();) {  // a slot taken over drops its client
        it = it->second.slot == a ? up_.erase(it) : std::next(it);
      }
      up_[id] = UpClient{a, static_cast<uint8_t>(b)};
      subs_.OnClientUp(id, a, static_cast<uint8_t>(b), now_);
    } else if (verb == "down") {
      up_.erase(id);
      subs_.OnClientDown(id);
    } else if (verb == "opt" || verb == "opt!") {
      std::string text;
      std::getline(in >> std::ws, text);
      absl::Status s = subs_.ApplyOptions(id, text, now_, warnings);
      EXPECT_EQ(s.ok(), verb == "opt") << s;
    } else if (verb == "ua") {
      in >> a >> b;
      subs_.OnEvent(
          Ev(EventType::kSubscriptionRequest, id, a - 1, b, b, SubscriptionAction::kActivateUa),
          now_);
    } else if (verb == "dial" || verb == "reject") {
      in >> a;
      subs_.OnEvent(
          Ev(EventType::kSubscriptionRequest, id, 1, a, a,
             verb == "dial" ? SubscriptionAction::kDial : SubscriptionAction::kRejectDial, 1),
          now_);
    } else if (verb == "unlink" || verb == "status") {
      const uint32_t n = verb == "unlink" ? route::kUnlinkId : route::kStatusId;
      subs_.OnEvent(
          Ev(EventType::kSubscriptionRequest, id, 1, n, n,
             verb == "unlink" ? SubscriptionAction::kUnlink : SubscriptionAction::kStatus, 1),
          now_);
    } else if (verb == "start" || verb == "end" || verb == "lost") {
      in >> a >> b;
      const unsigned ts = a - 1;
      uint32_t tg = b;
      if (ts == route::kTs2 && b == route::kDialTg) {
        const route::ClientInfo* c = snap_->client(SlotOf(id));
        tg = c != nullptr ? c->dial_tg : 0;
      }
      const EventType type = verb == "start" ? EventType::kStreamStarted
                             : verb == "end" ? EventType::kStreamEnded
                                             : EventType::kStreamLost;
      subs_.OnEvent(Ev(type, id, ts, b, tg), now_);
    } else {
      ADD_FAILURE() << "unknown op " << op;
    }
  }

  const Scenario& sc_;
  Subscriptions subs_;
  std::map<uint32_t, UpClient> up_;
  std::shared_ptr<const RouteSnapshot> snap_;
  uint64_t generation_ = 0;
  TimeNs now_ = 0;
  uint32_t stream_id_ = 0;  // the step's "#N", 0 = none
};

TgsBySlot Tgs(std::vector<uint32_t> ts1, std::vector<uint32_t> ts2) {
  return TgsBySlot{std::move(ts1), std::move(ts2)};
}

std::vector<Scenario> Scenarios() {
  return {
      {"config statics, logout and login again",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100})}}),
       {
           {0, "up 3120001 0 3", "91=0:TS1; 3100=0:TS2", "0:2:3100@0", 1},
           {1, "up 3120002 1 3", "91=0:TS1; 3100=0:TS2", "", 1},
           {2, "down 3120001", "", "", 1},
           {3, "ua 3120001 2 235", "", "", 0},  // no longer logged in: ignored
           {4, "up 3120001 2 3", "91=2:TS1; 3100=2:TS2"},
       }},
      {"option statics add to config statics and replace each other",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {1, "opt 3120001 TS1=91,235;TS2=3101", "91=0:TS1; 235=0:TS1; 3100=0:TS2; 3101=0:TS2"},
           {2, "opt 3120001 TS1=92", "92=0:TS1; 3100=0:TS2; 3101=0:TS2"},
           {3, "opt 3120001 TS2=", "92=0:TS1; 3100=0:TS2"},
           {4, "opt 3120001 TS2=3100", "92=0:TS1; 3100=0:TS2"},  // same as config: one member
           {5, "opt 3120001 TS2=9,3101", "92=0:TS1; 3100=0:TS2; 3101=0:TS2", "", 1,
            "TG 9 is reserved"},
           {6, "opt 3120001 LANG=en_GB", "92=0:TS1; 3100=0:TS2; 3101=0:TS2", "", 0},
           {7, "down 3120001", ""},
           {8, "up 3120001 0 3", "3100=0:TS2"},
           {9, "opt! 3120002 TS2=91", "3100=0:TS2"},  // not logged in
       }},
      {"UA activate, extend, expire (single mode off)",
       Settings(false),
       {
           {0, "up 3120001 0 3", ""},
           {10, "ua 3120001 2 91", "91=0:TS2", "0:2:91@610", 1},
           {100, "end 3120001 2 91", "91=0:TS2", "0:2:91@700", 0},
           {300, "ua 3120001 1 235", "91=0:TS2; 235=0:TS1", "0:1:235@900 0:2:91@700", 1},
           {350, "lost 3120001 1 235", "91=0:TS2; 235=0:TS1", "0:1:235@950", 0},
           {400, "end 3120001 2 3100", "91=0:TS2; 235=0:TS1", "0:2:91@700", 0},
           {699, "tick", "91=0:TS2; 235=0:TS1", "", 0},
           {700, "tick", "235=0:TS1", "", 1},
           {949, "tick", "235=0:TS1", "", 0},
           {950, "tick", "", "", 1},
       }},
      {"UA requests for statics and special TGs",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {10, "ua 3120001 2 3100", "3100=0:TS2", "0:2:3100@0", 0},
           {20, "ua 3120001 2 4000", "3100=0:TS2", "", 0},
           {21, "ua 3120001 2 9", "3100=0:TS2", "", 0},
           {30, "ua 3120001 2 9990", "3100=0:TS2; 9990=0:TS2", "0:2:9990@630", 1},
       }},
      {"a UA TG that becomes an option static stays, without timer",
       Settings(false),
       {
           {0, "up 3120001 0 3", ""},
           {10, "ua 3120001 2 91", "91=0:TS2", "0:2:91@610", 1},
           {20, "opt 3120001 TS2=91", "91=0:TS2", "0:2:91@0", 0},
           {700, "tick", "91=0:TS2", "", 0},
       }},
      {"single mode: a UA TG suspends the slot's statics until it expires",
       Settings(true, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100, 3101})}}),
       {
           {0, "up 3120001 0 3", "91=0:TS1; 3100=0:TS2; 3101=0:TS2"},
           {10, "ua 3120001 2 235", "91=0:TS1; 235=0:TS2", "0:2:235@610", 1},
           {20, "end 3120001 2 235", "91=0:TS1; 235=0:TS2", "0:2:235@620", 0},
           {30, "ua 3120001 2 2350", "91=0:TS1; 2350=0:TS2", "0:2:2350@630", 1},
           {40, "end 3120001 2 2350", "91=0:TS1; 2350=0:TS2", "0:2:2350@640", 0},
           {639, "tick", "91=0:TS1; 2350=0:TS2", "", 0},
           {640, "tick", "91=0:TS1; 3100=0:TS2; 3101=0:TS2", "", 1},
           {700, "ua 3120001 1 235", "235=0:TS1; 3100=0:TS2; 3101=0:TS2", "0:1:235@1300", 1},
           {1300, "tick", "91=0:TS1; 3100=0:TS2; 3101=0:TS2", "", 1},
       }},
      {"single mode: talking on a static suspends the other statics",
       Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100, 3101})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2; 3101=0:TS2"},
           {10, "start 3120001 2 3100", "3100=0:TS2", "", 1},
           {20, "end 3120001 2 3100", "3100=0:TS2", "", 0},
           // The shard asks to activate the suspended static: it becomes the TG in use.
           {50, "ua 3120001 2 3101", "3101=0:TS2", "0:2:3101@0", 1},
           {649, "tick", "3101=0:TS2", "", 0},
           {650, "tick", "3100=0:TS2; 3101=0:TS2", "", 1},
       }},
      // Two overs back to back on different shards: the end of the first reaches the control
      // plane after the second has started (its shard lagged). The second over's TG stays.
      {"single mode follows the call that started last, not the event that arrived last",
       Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3101})}}),
       {
           {0, "up 3120001 0 3", "3101=0:TS2"},
           {10, "start 3120001 2 235 #1", "", "", 1},
           {10, "ua 3120001 2 235 #1", "235=0:TS2", "0:2:235@610", 1},
           {11, "start 3120001 2 2350 #2", ""},
           {11, "ua 3120001 2 2350 #2", "2350=0:TS2", "0:2:2350@611", 1},
           {12, "end 3120001 2 2350 #2", "2350=0:TS2", "0:2:2350@612", 0},
           {13, "end 3120001 2 235 #1", "2350=0:TS2", "0:2:2350@612", 0},   // stale
           {14, "ua 3120001 2 235 #1", "2350=0:TS2", "0:2:2350@612", 0},    // stale, ignored
           {15, "lost 3120001 2 235 #1", "2350=0:TS2", "0:2:2350@612", 0},  // stale
           // A stream whose start was never seen (a control plane restarted meanwhile) counts.
           {20, "end 3120001 2 3101 #3", "3101=0:TS2", "", 1},
           {640, "tick", "3101=0:TS2"},
       }},
      {"single mode off: a late activation of an earlier call still counts",
       Settings(false),
       {
           {0, "up 3120001 0 3", ""},
           {10, "start 3120001 2 235 #1", ""},
           {11, "start 3120001 2 2350 #2", ""},
           {11, "ua 3120001 2 2350 #2", "2350=0:TS2"},
           {12, "ua 3120001 2 235 #1", "235=0:TS2; 2350=0:TS2"},
       }},
      {"single mode off: UA TGs and statics coexist",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {10, "ua 3120001 2 235", "235=0:TS2; 3100=0:TS2"},
           {20, "end 3120001 2 235", "235=0:TS2; 3100=0:TS2", "", 0},
           {30, "ua 3120001 2 91", "91=0:TS2; 235=0:TS2; 3100=0:TS2"},
           {40, "end 3120001 2 3100", "91=0:TS2; 235=0:TS2; 3100=0:TS2", "", 0},
       }},
      {"SINGLE= overrides the setting both ways",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {1, "opt 3120001 SINGLE=1", "3100=0:TS2", "", 0},
           {10, "ua 3120001 2 235", "235=0:TS2", "0:2:235@610", 1},
           {20, "opt 3120001 SINGLE=0", "235=0:TS2; 3100=0:TS2", "", 1},
           {30, "ua 3120001 2 91", "91=0:TS2; 235=0:TS2; 3100=0:TS2"},
       }},
      {"TIMER= overrides the UA timer; 0 never expires",
       Settings(false),
       {
           {0, "up 3120001 0 3", ""},
           {1, "opt 3120001 TIMER=1", ""},
           {10, "ua 3120001 2 91", "91=0:TS2", "0:2:91@70"},
           {70, "tick", "", "", 1},
           {80, "opt 3120001 RelinkTime=0", ""},
           {90, "ua 3120001 2 91", "91=0:TS2", "0:2:91@never"},
           {100000, "tick", "91=0:TS2", "0:2:91@never", 0},
           {100010, "end 3120001 2 91", "91=0:TS2", "0:2:91@never", 0},
       }},
      {"dial-a-TG: link, extend, replace, unlink, expire",
       Settings(false, ActivateOn::kStart, 10, {{B, Tgs({}, {262})}}),
       {
           {0, "up 3120001 0 3", ""},
           {0, "up 3120002 1 3", "262=1:TS2"},
           {10, "dial 3120001 262", "262=0:TS2/9 1:TS2", "", 1},
           {20, "end 3120001 2 9", "262=0:TS2/9 1:TS2", "", 0},
           {30, "dial 3120001 1234", "262=1:TS2; 1234=0:TS2/9", "", 1},
           {40, "unlink 3120001", "262=1:TS2", "", 1},
           {50, "status 3120001", "262=1:TS2", "", 0},
           {55, "reject 3120001 8", "262=1:TS2", "", 0},
           {60, "dial 3120001 262", "262=0:TS2/9 1:TS2", "", 1},
           {300, "end 3120001 2 9", "262=0:TS2/9 1:TS2", "", 0},
           {899, "tick", "262=0:TS2/9 1:TS2", "", 0},
           {900, "tick", "262=1:TS2", "", 1},
           {910, "end 3120001 2 9", "262=1:TS2", "", 0},  // TG 9 without a link
       }},
      {"DIAL= default: permanent, auto-relinks, 4000 keeps it off until the next options",
       Settings(false),
       {
           {0, "up 3120001 0 3", ""},
           {1, "opt 3120001 DIAL=262", "262=0:TS2/9", "", 1},
           {10, "dial 3120001 1234", "1234=0:TS2/9"},
           {609, "tick", "1234=0:TS2/9", "", 0},
           {610, "tick", "262=0:TS2/9", "", 1},
           {620, "unlink 3120001", ""},
           {2000, "tick", ""},
           {2010, "dial 3120001 1234", "1234=0:TS2/9"},
           {2610, "tick", "", "", 1},
           {2620, "opt 3120001 TS1=91", "91=0:TS1; 262=0:TS2/9"},
           {2630, "unlink 3120001", "91=0:TS1"},
           {2640, "dial 3120001 262", "91=0:TS1; 262=0:TS2/9"},
           {9999, "tick", "91=0:TS1; 262=0:TS2/9", "", 0},
           {10000, "opt 3120001 DIAL=0", "91=0:TS1"},
           {10010, "opt 3120001 StartRef=1234", "91=0:TS1; 1234=0:TS2/9"},
           {10020, "down 3120001", ""},
           {10030, "up 3120001 0 3", ""},
       }},
      {"DIAL= default in single mode: suspended like a static, a dialled link dropped",
       Settings(true),
       {
           {0, "up 3120001 0 3", ""},
           {1, "opt 3120001 DIAL=262", "262=0:TS2/9"},
           {10, "ua 3120001 2 235", "235=0:TS2", "0:2:235@610"},
           {20, "end 3120001 2 235", "235=0:TS2", "0:2:235@620"},
           {620, "tick", "262=0:TS2/9", "", 1},
           {630, "end 3120001 2 9", "262=0:TS2/9", "", 0},
           {640, "ua 3120001 1 91", "91=0:TS1; 262=0:TS2/9", "0:1:91@1240"},
           {1300, "tick", "262=0:TS2/9"},
           {1310, "dial 3120001 1234", "1234=0:TS2/9"},
           {1320, "ua 3120001 2 235", "235=0:TS2", "0:2:235@1920"},
           {1920, "tick", "262=0:TS2/9"},
       }},
      {"slot mask: nothing on an undeclared timeslot",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100})}, {C, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 2", "3100=0:TS2", "", 1, "TS1 static TG 91 is not subscribed"},
           {1, "opt 3120001 TS1=92", "3100=0:TS2", "", 0, "TS1 static TG 92 is not subscribed"},
           {2, "ua 3120001 1 235", "3100=0:TS2", "", 0},
           {3, "up 3120003 1 1", "3100=0:TS2", "", 1, "TS2 static TG 3100 is not subscribed"},
           {4, "opt 3120003 DIAL=262", "3100=0:TS2", "", 0, "the client has no TS2"},
           {5, "dial 3120003 1234", "3100=0:TS2", "", 0},
           {6, "ua 3120003 1 235", "235=1:TS1; 3100=0:TS2"},
       }},
      {"activate_on = end: triggers at the terminator only",
       Settings(true, ActivateOn::kEnd, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {10, "start 3120001 2 235", "3100=0:TS2", "", 0},
           {20, "end 3120001 2 235", "", "", 1},
           {20, "ua 3120001 2 235", "235=0:TS2", "0:2:235@620", 1},
           {100, "start 3120001 2 235", "235=0:TS2", "0:2:235@620", 0},
           {110, "lost 3120001 2 235", "235=0:TS2", "0:2:235@620", 0},
           {120, "end 3120001 2 235", "235=0:TS2", "0:2:235@720", 0},
           {720, "tick", "3100=0:TS2", "", 1},
       }},
      {"activate_on = start: triggers at call start, end and loss",
       Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {10, "start 3120001 2 235", "", "", 1},
           {10, "ua 3120001 2 235", "235=0:TS2", "0:2:235@610", 1},
           {20, "end 3120001 2 235", "235=0:TS2", "0:2:235@620", 0},
           {100, "start 3120001 2 235", "235=0:TS2", "0:2:235@700", 0},
           {110, "lost 3120001 2 235", "235=0:TS2", "0:2:235@710", 0},
           {710, "tick", "3100=0:TS2", "", 1},
       }},
      {"logins: dynamic state forgotten, slot reuse, stale events",
       Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}),
       {
           {0, "up 3120001 0 3", "3100=0:TS2"},
           {1, "up 3120002 1 3", "3100=0:TS2"},
           {10, "ua 3120001 1 235", "235=0:TS1; 3100=0:TS2"},
           {11, "dial 3120001 262", "235=0:TS1; 262=0:TS2/9; 3100=0:TS2"},
           {12, "opt 3120001 TS1=91", "91=0:TS1; 235=0:TS1; 262=0:TS2/9; 3100=0:TS2"},
           {13, "ua 3120002 2 235", "91=0:TS1; 235=0:TS1 1:TS2; 262=0:TS2/9; 3100=0:TS2"},
           {20, "down 3120001", "235=1:TS2"},
           {21, "up 3120001 0 3", "235=1:TS2; 3100=0:TS2"},
           {22, "up 3120003 1 3", "3100=0:TS2", "", 1},  // slot 1 taken over: B is gone
           {23, "ua 3120002 2 91", "3100=0:TS2", "", 0},
           {24, "ua 3120001 2 91", "91=0:TS2; 3100=0:TS2"},
           {25, "up 3120001 0 3", "3100=0:TS2", "", 1},  // logged in again: reset
       }},
  };
}

TEST(SubscriptionsTest, Scenarios) {
  for (const Scenario& sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    Runner(sc).Run();
  }
}

// ---------------------------------------------------------------------------------------------
// Direct tests

Event Request(uint32_t id, uint32_t slot, SubscriptionAction action, unsigned ts, uint32_t tg) {
  Event e;
  e.type = EventType::kSubscriptionRequest;
  e.action = action;
  e.ts = static_cast<uint8_t>(ts);
  e.source = route::SystemRef::Client(slot);
  e.source_id = id;
  e.dst = tg;
  e.tg = tg;
  return e;
}

std::vector<uint32_t> OptionStatics(const Subscriptions& s, uint32_t id, unsigned ts) {
  return s.View(id)->option_statics[ts];
}

TEST(SubscriptionsTest, KeyLatch) {
  Subscriptions s(Settings(false));
  s.OnClientUp(A, 0, 3, 0);
  std::vector<std::string> w;
  ASSERT_TRUE(s.ApplyOptions(A, "TS2=91", 0, &w).ok());  // no key yet: anything goes
  ASSERT_TRUE(s.ApplyOptions(A, "TS2=92;KEY=abc", 0, &w).ok());
  EXPECT_TRUE(s.View(A)->key_latched);
  EXPECT_TRUE(s.CheckKey(A, "abc"));
  EXPECT_FALSE(s.CheckKey(A, "ABC"));
  EXPECT_FALSE(s.CheckKey(B, "abc"));
  s.TakeChanged();

  for (const char* bad : {"TS2=93", "TS2=93;KEY=xyz", "TS2=93;KEY=ABC", "KEY=;TS2=93"}) {
    SCOPED_TRACE(bad);
    absl::Status st = s.ApplyOptions(A, bad, 0, &w);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
    EXPECT_THAT(st.message(), HasSubstr("3120001"));
    EXPECT_EQ(OptionStatics(s, A, 1), std::vector<uint32_t>{92});
    EXPECT_FALSE(s.TakeChanged());
  }
  ASSERT_TRUE(s.ApplyOptions(A, "KEY=abc;TS2=93", 0, &w).ok());
  EXPECT_EQ(OptionStatics(s, A, 1), std::vector<uint32_t>{93});
  ASSERT_TRUE(s.ApplyOptions(A, "TS2=94;\"KEY\"=\"abc\"", 0, &w).ok());  // quotes are stripped

  // CheckOptions says what ApplyOptions would, without applying anything; a login's own options
  // (a new session) are not held to the running session's key.
  EXPECT_EQ(s.CheckOptions(A, "TS2=95", false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.CheckOptions(A, "TS2=95;KEY=xyz", false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(s.CheckOptions(A, "TS2=95;KEY=abc", false).ok());
  EXPECT_TRUE(s.CheckOptions(A, "TS2=95", true).ok());
  EXPECT_EQ(s.CheckOptions(A, std::string(kMaxOptionsBytes + 1, 'x'), true).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OptionStatics(s, A, 1), std::vector<uint32_t>{94});

  // The latch ends with the session: after a logout the next session sets its options (and a
  // key of its own) freely.
  s.OnClientDown(A);
  EXPECT_FALSE(s.CheckKey(A, "abc"));
  s.OnClientUp(A, 0, 3, 0);
  EXPECT_FALSE(s.View(A)->key_latched);
  EXPECT_TRUE(s.ApplyOptions(A, "TS2=95", 0, &w).ok());
  EXPECT_TRUE(s.ApplyOptions(A, "TS2=95;KEY=new", 0, &w).ok());
  EXPECT_TRUE(s.CheckKey(A, "new"));
  // So does a new login without a logout in between (OnClientUp starts a new session).
  s.OnClientUp(A, 0, 3, 0);
  EXPECT_FALSE(s.CheckKey(A, "new"));
  EXPECT_TRUE(s.ApplyOptions(A, "TS2=96;KEY=newer", 0, &w).ok());
  s.ForgetKey(A);
  EXPECT_FALSE(s.View(A)->key_latched);

  // Other errors.
  EXPECT_EQ(s.ApplyOptions(B, "TS2=95", 0, &w).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.ApplyOptions(A, std::string(kMaxOptionsBytes + 1, ';'), 0, &w).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(w.empty()) << absl::StrJoin(w, " | ");
}

TEST(SubscriptionsTest, WarningsGoToTheCallerOrWaitAndAreGivenOnce) {
  Subscriptions s(Settings(false, ActivateOn::kStart, 10, {{A, Tgs({91, 9}, {})}}));
  s.OnClientUp(A, 0, 2, 0);
  std::vector<std::string> pending = s.TakeWarnings();
  ASSERT_EQ(pending.size(), 2u) << absl::StrJoin(pending, " | ");
  EXPECT_THAT(pending[0], HasSubstr("configured TS1 static TG 9 cannot be subscribed"));
  EXPECT_THAT(pending[1], HasSubstr("TS1 static TG 91 is not subscribed"));
  EXPECT_TRUE(s.TakeWarnings().empty());

  std::vector<std::string> w;
  ASSERT_TRUE(s.ApplyOptions(A, "TS1=92;FOO=1", 0, &w).ok());
  ASSERT_EQ(w.size(), 2u) << absl::StrJoin(w, " | ");
  EXPECT_THAT(w[0], HasSubstr("client 3120001: unknown options key \"FOO\""));
  EXPECT_THAT(w[1], HasSubstr("TS1 static TG 92 is not subscribed"));
  w.clear();
  ASSERT_TRUE(s.ApplyOptions(A, "TS1=92", 0, &w).ok());
  EXPECT_TRUE(w.empty()) << absl::StrJoin(w, " | ");
  ASSERT_TRUE(s.ApplyOptions(A, "TS1=93;BAR=2", 0, nullptr).ok());
  pending = s.TakeWarnings();
  ASSERT_EQ(pending.size(), 2u) << absl::StrJoin(pending, " | ");
  EXPECT_THAT(pending[0], HasSubstr("BAR"));
  EXPECT_THAT(pending[1], HasSubstr("TS1 static TG 93"));
}

TEST(SubscriptionsTest, NextExpiryAndChangeFlags) {
  Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
  EXPECT_EQ(s.NextExpiry(), kNever);
  EXPECT_FALSE(s.Expire(1000 * kSec));
  s.OnClientUp(A, 0, 3, 0);
  EXPECT_TRUE(s.TakeChanged());
  EXPECT_FALSE(s.TakeChanged());
  EXPECT_EQ(s.NextExpiry(), kNever);

  s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 1, 235), 10 * kSec);
  EXPECT_TRUE(s.TakeChanged());
  EXPECT_FALSE(s.TakeTimersChanged());  // cleared by TakeChanged
  EXPECT_EQ(s.NextExpiry(), 610 * kSec);

  Event end = Request(A, 0, SubscriptionAction::kNone, 1, 235);
  end.type = EventType::kStreamEnded;
  s.OnEvent(end, 30 * kSec);
  EXPECT_FALSE(s.TakeChanged());
  EXPECT_TRUE(s.TakeTimersChanged());
  EXPECT_FALSE(s.TakeTimersChanged());
  EXPECT_EQ(s.NextExpiry(), 630 * kSec);

  s.OnEvent(Request(A, 0, SubscriptionAction::kDial, 1, 1234), 40 * kSec);
  EXPECT_TRUE(s.TakeChanged());
  EXPECT_EQ(s.NextExpiry(), 630 * kSec);

  EXPECT_FALSE(s.Expire(629 * kSec));
  EXPECT_TRUE(s.Expire(630 * kSec));  // UA and suspension end; the dial link stays until 640
  EXPECT_TRUE(s.TakeChanged());
  ClientView v = *s.View(A);
  EXPECT_TRUE(v.ua.empty());
  EXPECT_EQ(v.suspension[1], Suspension{});
  EXPECT_TRUE(v.suspended[1].empty());
  EXPECT_EQ(v.dial_tg, 1234u);
  EXPECT_EQ(v.dial_kind, DialKind::kDialled);
  EXPECT_EQ(v.dial_expires_at, 640 * kSec);
  EXPECT_EQ(s.NextExpiry(), 640 * kSec);
  EXPECT_TRUE(s.Expire(640 * kSec));
  EXPECT_EQ(s.View(A)->dial_kind, DialKind::kNone);
  EXPECT_EQ(s.NextExpiry(), kNever);
}

// Traffic that only moves timers (a UA TG's expiry, a dialled link's, a single-mode suspension's)
// names the client in TakeTimerChangedClients(), once: the control plane refreshes its restart
// record from there. Membership changes go to TakeChangedClients() instead.
TEST(SubscriptionsTest, TimerOnlyChangesNameTheClientOnce) {
  auto ended = [](uint32_t id, unsigned ts, uint32_t dst, uint32_t tg) {
    Event e = Request(id, 0, SubscriptionAction::kNone, ts, tg);
    e.type = EventType::kStreamEnded;
    e.dst = dst;
    return e;
  };
  {
    SCOPED_TRACE("UA expiry and suspension, single mode");
    Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
    s.OnClientUp(A, 0, 3, 0);
    s.TakeChangedClients();
    EXPECT_TRUE(s.TakeTimerChangedClients().empty());
    s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 1, 235), 10 * kSec);
    EXPECT_EQ(s.TakeChangedClients(), std::vector<uint32_t>{A});  // 235 in, 3100 suspended
    EXPECT_TRUE(s.TakeTimerChangedClients().empty());
    s.OnEvent(ended(A, 1, 235, 235), 30 * kSec);  // extends 235 and the suspension
    EXPECT_TRUE(s.TakeChangedClients().empty());
    EXPECT_EQ(s.TakeTimerChangedClients(), std::vector<uint32_t>{A});
    EXPECT_TRUE(s.TakeTimerChangedClients().empty());
    EXPECT_EQ(s.View(A)->ua, (std::vector<UaMembership>{{1, 235, 630 * kSec}}));
  }
  {
    SCOPED_TRACE("suspension alone: talking on the static itself");
    Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
    s.OnClientUp(A, 0, 3, 0);
    s.TakeChangedClients();
    s.OnEvent(ended(A, 1, 3100, 3100), 10 * kSec);
    EXPECT_TRUE(s.TakeChangedClients().empty());
    EXPECT_EQ(s.TakeTimerChangedClients(), std::vector<uint32_t>{A});
    EXPECT_EQ(s.View(A)->suspension[1], (Suspension{610 * kSec, 3100}));
  }
  {
    SCOPED_TRACE("a dialled link's expiry");
    Subscriptions s(Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {})}}));
    s.OnClientUp(A, 0, 3, 0);
    s.OnEvent(Request(A, 0, SubscriptionAction::kDial, 1, 1234), 10 * kSec);
    EXPECT_EQ(s.TakeChangedClients(), std::vector<uint32_t>{A});
    EXPECT_TRUE(s.TakeTimerChangedClients().empty());
    s.OnEvent(ended(A, 1, route::kDialTg, 1234), 40 * kSec);  // TG 9 on TS2: the dialled link
    EXPECT_TRUE(s.TakeChangedClients().empty());
    EXPECT_EQ(s.TakeTimerChangedClients(), std::vector<uint32_t>{A});
    EXPECT_EQ(s.View(A)->dial_expires_at, 640 * kSec);
  }
}

// The JSON API's dropDynamicGroups: UA TGs of the slots named go, and on TS2 a dialled link; the
// DIAL= default and the statics stay.
TEST(SubscriptionsTest, DropDynamicDropsUaTgsAndTheDialledLinkOfTheSlotsNamed) {
  Subscriptions s(Settings(false, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100})}}));
  s.OnClientUp(A, 0, 3, 0);
  ASSERT_TRUE(s.ApplyOptions(A, "DIAL=262", 0, nullptr).ok());
  s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 0, 235), kSec);
  s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 1, 2350), kSec);
  s.OnEvent(Request(A, 0, SubscriptionAction::kDial, 1, 1234), kSec);
  ASSERT_EQ(s.View(A)->ua.size(), 2u);
  ASSERT_EQ(s.View(A)->dial_kind, DialKind::kDialled);
  s.TakeChanged();

  ASSERT_TRUE(s.DropDynamic(A, 1u << route::kTs2).ok());
  EXPECT_TRUE(s.TakeChanged());
  ClientView v = *s.View(A);
  EXPECT_EQ(v.ua, (std::vector<UaMembership>{{0, 235, 601 * kSec}}));
  EXPECT_EQ(v.dial_kind, DialKind::kDefault);  // the dialled link went, the default is back
  EXPECT_EQ(v.dial_tg, 262u);
  ASSERT_TRUE(s.DropDynamic(A, (1u << route::kTs1) | (1u << route::kTs2)).ok());
  v = *s.View(A);
  EXPECT_TRUE(v.ua.empty());
  EXPECT_EQ(v.config_statics, Tgs({91}, {3100}));
  EXPECT_TRUE(s.TakeChanged());
  ASSERT_TRUE(s.DropDynamic(A, 1u << route::kTs1).ok());
  EXPECT_FALSE(s.TakeChanged());  // nothing left to drop: no new snapshot
  EXPECT_EQ(s.DropDynamic(B, 3).code(), absl::StatusCode::kNotFound);
}

// Options from the operator (the JSON API, authenticated there) pass a latched KEY and never
// change it; IsAnyKey tells a hotspot's key from no credential at all.
TEST(SubscriptionsTest, OperatorOptionsPassTheKeyLatchAndNeverChangeIt) {
  Subscriptions s(Settings(false));
  s.OnClientUp(A, 0, 3, 0);
  s.OnClientUp(B, 1, 3, 0);
  ASSERT_TRUE(s.ApplyOptions(A, "TS2=91;KEY=abc", 0, nullptr).ok());
  EXPECT_EQ(s.ApplyOptions(A, "TS2=92", 0, nullptr).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(s.ApplyOptions(A, "TS2=92", 0, nullptr, Subscriptions::OptionsFrom::kOperator).ok());
  EXPECT_EQ(OptionStatics(s, A, 1), std::vector<uint32_t>{92});
  EXPECT_TRUE(s.CheckKey(A, "abc"));
  ASSERT_TRUE(s.ApplyOptions(A, "KEY=new", 0, nullptr, Subscriptions::OptionsFrom::kOperator).ok());
  EXPECT_TRUE(s.CheckKey(A, "abc"));
  EXPECT_FALSE(s.CheckKey(A, "new"));
  EXPECT_FALSE(s.CheckKey(A, "abc "));
  EXPECT_FALSE(s.CheckKey(A, ""));
  EXPECT_TRUE(s.IsAnyKey("abc"));
  EXPECT_FALSE(s.IsAnyKey("new"));
  EXPECT_FALSE(s.IsAnyKey(""));
  EXPECT_FALSE(s.CheckKey(B, "abc"));  // B has no key
  // An operator's KEY= does not latch one either.
  ASSERT_TRUE(
      s.ApplyOptions(B, "TS2=91;KEY=b", 0, nullptr, Subscriptions::OptionsFrom::kOperator).ok());
  EXPECT_FALSE(s.View(B)->key_latched);
}

TEST(SubscriptionsTest, ViewShowsSuspensionAndSettings) {
  Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100, 3101})}}));
  s.OnClientUp(A, 2, 3, 0);
  ASSERT_TRUE(
      s.ApplyOptions(A, "TS2=2350;DIAL=262;TIMER=5;VOICE=1;IDENTTG=91;LANG=de_DE", 0, nullptr)
          .ok());
  s.OnEvent(Request(A, 2, SubscriptionAction::kActivateUa, 1, 235), 10 * kSec);
  const ClientView v = *s.View(A);
  EXPECT_EQ(v.id, A);
  EXPECT_EQ(v.slot, 2u);
  EXPECT_EQ(v.config_statics, Tgs({91}, {3100, 3101}));
  EXPECT_EQ(v.option_statics, Tgs({}, {2350}));
  EXPECT_EQ(v.suspended, Tgs({}, {2350, 3100, 3101}));
  EXPECT_EQ(v.suspension[1], (Suspension{310 * kSec, 235}));
  EXPECT_EQ(v.ua, (std::vector<UaMembership>{{1, 235, 310 * kSec}}));
  EXPECT_EQ(v.dial_tg, 0u);  // the default is suspended too
  EXPECT_EQ(v.default_dial, 262u);
  EXPECT_TRUE(v.single_mode);
  EXPECT_EQ(v.ua_timer, 300 * kSec);
  EXPECT_EQ(v.voice, true);
  EXPECT_EQ(v.ident_tg, 91u);
  EXPECT_EQ(v.lang, "de_DE");
  EXPECT_FALSE(v.key_latched);
  EXPECT_EQ(s.Views(), std::vector<ClientView>{v});
  EXPECT_FALSE(s.View(B).has_value());
}

TEST(SubscriptionsTest, IgnoresPeersPrivateCallsAndMismatchedSlots) {
  Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
  s.OnClientUp(A, 0, 3, 0);
  s.TakeChanged();
  Event e = Request(A, 0, SubscriptionAction::kActivateUa, 1, 235);
  e.source = route::SystemRef::Peer(0);
  s.OnEvent(e, kSec);
  e.source = route::SystemRef::Client(1);  // wrong slot for A
  s.OnEvent(e, kSec);
  Event priv = Request(A, 0, SubscriptionAction::kNone, 1, 235);
  priv.type = EventType::kStreamEnded;
  priv.call_type = 1;
  s.OnEvent(priv, kSec);
  Event quench = priv;
  quench.type = EventType::kSourceQuenchReceived;
  s.OnEvent(quench, kSec);
  Event odd_ts = Request(A, 0, SubscriptionAction::kActivateUa, 2, 235);
  s.OnEvent(odd_ts, kSec);
  Event not_dialable = Request(A, 0, SubscriptionAction::kDial, 1, 9);
  s.OnEvent(not_dialable, kSec);
  EXPECT_FALSE(s.TakeChanged());
  EXPECT_FALSE(s.TakeTimersChanged());
  EXPECT_TRUE(s.View(A)->ua.empty());
}

TEST(SubscriptionsTest, UaCountIsBounded) {
  Subscriptions s(Settings(false));
  s.OnClientUp(A, 0, 3, 0);
  for (uint32_t i = 0; i < kMaxUaPerClient + 5; ++i) {
    s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 1, 100 + i), (10 + i) * kSec);
  }
  const ClientView v = *s.View(A);
  ASSERT_EQ(v.ua.size(), kMaxUaPerClient);
  EXPECT_EQ(v.ua.front().tg, 105u);  // the five that expire first were dropped
}

TEST(SubscriptionsTest, UpdateSettingsAppliesToLoggedInClients) {
  Subscriptions s(Settings(true, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
  s.OnClientUp(A, 0, 3, 0);
  s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 1, 235), kSec);
  EXPECT_EQ(s.View(A)->suspended[1], std::vector<uint32_t>{3100});
  s.TakeChanged();
  s.UpdateSettings(Settings(false, ActivateOn::kStart, 5, {{A, Tgs({91}, {3100, 235})}}));
  EXPECT_TRUE(s.TakeChanged());
  const ClientView v = *s.View(A);
  EXPECT_EQ(v.config_statics, Tgs({91}, {235, 3100}));
  EXPECT_TRUE(v.ua.empty());  // 235 is a static now
  EXPECT_EQ(v.suspension[1], Suspension{});
  EXPECT_EQ(v.ua_timer, 300 * kSec);
}

TEST(SubscriptionsTest, AddToNamesTheClient) {
  Subscriptions s(Settings(false, ActivateOn::kStart, 10, {{A, Tgs({}, {3100})}}));
  s.OnClientUp(A, 3, 3, 0);
  RouteSnapshotBuilder b(route::HubPolicy{}, kCapacity);  // the client was not added
  absl::Status st = s.AddTo(&b);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("client 3120001 (slot 3)"));
}

TEST(SubscriptionsTest, RestoreFromASnapshotDerivedList) {
  const SubscriptionSettings settings =
      Settings(false, ActivateOn::kStart, 10, {{A, Tgs({91}, {})}});
  Subscriptions s(settings);
  RestoredClient a;
  a.id = A;
  a.slot = 0;
  a.members = {{0, 91, 0}, {1, 3100, 0}, {1, 235, 700 * kSec}, {1, 9, 0}, {2, 92, 0}};
  a.dial_tg = 1234;
  a.dial_expires_at = 650 * kSec;
  RestoredClient b;
  b.id = B;
  b.slot = 1;
  b.slot_mask = 2;
  b.dial_tg = 262;  // the DIAL= default
  b.options = "KEY=k;TIMER=0";
  const std::vector<RestoredClient> list = {a, b};
  s.Restore(list, 100 * kSec);
  EXPECT_TRUE(s.TakeChanged());

  ClientView va = *s.View(A);
  EXPECT_EQ(va.config_statics, Tgs({91}, {}));
  EXPECT_EQ(va.option_statics, Tgs({}, {3100}));  // 9 and the bad timeslot are dropped
  EXPECT_EQ(va.ua, (std::vector<UaMembership>{{1, 235, 700 * kSec}}));
  EXPECT_EQ(va.dial_tg, 1234u);
  EXPECT_EQ(va.dial_kind, DialKind::kDialled);
  EXPECT_EQ(va.dial_expires_at, 650 * kSec);
  ClientView vb = *s.View(B);
  EXPECT_EQ(vb.dial_kind, DialKind::kDefault);
  EXPECT_EQ(vb.default_dial, 262u);
  EXPECT_EQ(vb.ua_timer, 0u);
  EXPECT_TRUE(s.CheckKey(B, "k"));

  std::map<uint32_t, UpClient> up = {{A, {0, 3}}, {B, {1, 2}}};
  std::shared_ptr<const RouteSnapshot> snap = BuildSnapshot(s, up, 1);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(Dump(*snap), "91=0:TS1; 235=0:TS2; 262=1:TS2/9; 1234=0:TS2/9; 3100=0:TS2");
  EXPECT_EQ(snap->UaExpiry(0, 1, 235), 700 * kSec);
  CheckIsMember(*snap);

  EXPECT_TRUE(s.Expire(650 * kSec));
  EXPECT_EQ(s.View(A)->dial_tg, 0u);
}

TEST(SubscriptionsTest, ExportRestoreRoundTrip) {
  const SubscriptionSettings settings =
      Settings(true, ActivateOn::kStart, 10, {{A, Tgs({91}, {3100})}});
  Subscriptions s(settings);
  s.OnClientUp(A, 0, 3, 0);
  s.OnClientUp(B, 1, 2, 0);
  ASSERT_TRUE(s.ApplyOptions(A,
                             "TS2=3101;DIAL=262;TIMER=20;SINGLE=1;VOICE=0;IDENTTG=9;"
                             "LANG=en_GB;KEY=x=y",
                             0, nullptr)
                  .ok());
  ASSERT_TRUE(s.ApplyOptions(B, "DIAL=262;TIMER=0;SINGLE=0", 0, nullptr).ok());
  s.OnEvent(Request(A, 0, SubscriptionAction::kDial, 1, 1234), 10 * kSec);
  s.OnEvent(Request(A, 0, SubscriptionAction::kActivateUa, 0, 235), 20 * kSec);
  s.OnEvent(Request(B, 1, SubscriptionAction::kActivateUa, 1, 2350), 20 * kSec);
  s.OnEvent(Request(B, 1, SubscriptionAction::kUnlink, 1, route::kUnlinkId), 30 * kSec);

  const std::vector<RestoredClient> exported = s.Export();
  ASSERT_EQ(exported.size(), 2u);
  EXPECT_EQ(exported[0].options,
            "TS2=3101;DIAL=262;TIMER=20;SINGLE=1;VOICE=0;IDENTTG=9;LANG=en_GB;KEY=x=y");
  EXPECT_EQ(exported[1].options, "DIAL=262;TIMER=0;SINGLE=0");
  Subscriptions t(settings);
  t.Restore(exported, 40 * kSec);
  EXPECT_EQ(t.Views(), s.Views());
  EXPECT_EQ(t.Export(), exported);
  EXPECT_TRUE(t.CheckKey(A, "x=y"));
  EXPECT_TRUE(t.View(B)->default_unlinked);
  EXPECT_EQ(t.NextExpiry(), s.NextExpiry());
}

}  // namespace
}  // namespace dmrswitch::cp
