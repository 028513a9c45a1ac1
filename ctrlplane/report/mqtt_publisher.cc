#include "ctrlplane/report/mqtt_publisher.h"

#include <mosquitto.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "ctrlplane/report/json_model.h"

namespace dmrswitch::cp::report {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// BrandMeister's Master/<id>/Session shape (wiki "MQTT API"): the fields whose meaning is
// public. BM's numeric SessionType/LinkType codes are not published, so they are left out and
// CallType says what the call is.
json BmSession(const CallRecord& c) {
  json j = {
      {"Event", c.ended ? "Session-Stop" : "Session-Start"},
      {"LinkName", c.source.kind == CallSource::Kind::kPeer ? c.source.peer_name : "Homebrew"},
      {"ContextID",
       c.source.kind == CallSource::Kind::kPeer ? c.source.network_id : c.source.client_id},
      {"SessionID", absl::StrFormat("%08x-%d", c.stream_id, c.start_unix_ns)},
      {"Slot", static_cast<int>(c.slot)},
      {"SourceID", c.rf_src},
      {"DestinationID", c.dst},
      {"CallType", std::string(CallTypeName(c.type))},
  };
  if (!c.talker_callsign.empty()) j["SourceCall"] = c.talker_callsign;
  if (c.ended) {
    j["LossCount"] = c.frames_lost;
    j["TotalCount"] = c.frames + c.frames_lost;
    j["Duration"] = static_cast<double>(c.duration_ns) / 1e9;
    j["Reason"] = std::string(CallEndReasonName(c.end_reason));
  }
  return j;
}

}  // namespace

std::string ExpandTopicPrefix(const std::string& pattern, uint32_t server_id) {
  std::string prefix = absl::StrReplaceAll(pattern, {{"{server_id}", std::to_string(server_id)}});
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

// Everything the network thread owns. libmosquitto calls back into it from mosquitto_loop(),
// on the same thread, so nothing here needs a lock.
struct MqttPublisher::Session {
  MqttPublisher* owner = nullptr;
  mosquitto* mosq = nullptr;
  bool socket_open = false;  // a connection attempt or a connection is in progress
  bool connected = false;    // CONNACK accepted
  size_t inflight = 0;
  std::set<int> live_mids;   // live (QoS 0) messages handed over, not yet written
  std::set<int> other_mids;  // retained states, not yet written
  // libmosquitto may write a message (and call on_publish) inside mosquitto_publish(), before
  // its mid is known here: such a callback marks the message being published as written.
  bool publishing = false;
  bool written_during_publish = false;
  std::map<std::string, std::string> retained_peers;  // topic -> payload
  // Topics of removed peers whose retained state the broker still holds: an empty retained
  // message deletes it, sent once connected.
  std::set<std::string> cleared_peers;
  Clock::time_point next_attempt = Clock::now();
  std::chrono::milliseconds backoff{0};

  bool Send(const std::string& topic, const std::string& payload, int qos, bool retain, bool live) {
    Counters& c = owner->counters_;
    if (!connected || (live && inflight >= owner->options_.max_inflight)) {
      c.messages_dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    int mid = 0;
    publishing = true;
    written_during_publish = false;
    int rc = mosquitto_publish(mosq, &mid, topic.c_str(), static_cast<int>(payload.size()),
                               payload.data(), qos, retain);
    publishing = false;
    if (rc != MOSQ_ERR_SUCCESS) {
      c.messages_dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    c.messages_sent.fetch_add(1, std::memory_order_relaxed);
    if (!written_during_publish) {
      if (live) {
        live_mids.insert(mid);
        ++inflight;
      } else {
        other_mids.insert(mid);
      }
    }
    return true;
  }

  void Written(int mid) {
    owner->counters_.messages_written.fetch_add(1, std::memory_order_relaxed);
    if (live_mids.erase(mid)) {
      if (inflight) --inflight;
    } else if (!other_mids.erase(mid) && publishing) {
      written_during_publish = true;  // the message being published right now
    }
  }
};

MqttPublisher::MqttPublisher(MqttOptions options, HubView hub)
    : options_(std::move(options)),
      hub_(std::move(hub)),
      prefix_(ExpandTopicPrefix(options_.topic_prefix, hub_.server_id)),
      queue_(options_.queue_capacity) {}

absl::StatusOr<std::unique_ptr<MqttPublisher>> MqttPublisher::Start(MqttOptions options,
                                                                    HubView hub) {
  if (options.host.empty() || options.port == 0) {
    return absl::InvalidArgumentError("report mqtt: broker host and port are required");
  }
  std::string prefix = ExpandTopicPrefix(options.topic_prefix, hub.server_id);
  if (prefix.empty() || prefix.find_first_of("+#") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "report mqtt: mqtt_topic '%s' must be non-empty and hold no '+' or '#' wildcard",
        options.topic_prefix));
  }
  if (options.keepalive_s < 5) {
    return absl::InvalidArgumentError("report mqtt: keepalive must be at least 5 seconds");
  }
  InitLibraryOnce();
  std::unique_ptr<MqttPublisher> publisher(new MqttPublisher(std::move(options), std::move(hub)));
  publisher->thread_ = std::thread([p = publisher.get()] { p->Run(); });
  return publisher;
}

MqttPublisher::~MqttPublisher() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool MqttPublisher::Publish(ReportEvent event) { return queue_.TryPush(std::move(event)); }

void MqttPublisher::SetState(std::shared_ptr<const HubState> state) {
  state_.store(std::move(state));
  state_version_.fetch_add(1, std::memory_order_release);
}

MqttStats MqttPublisher::stats() const {
  MqttStats s;
  s.events_published = queue_.pushed();
  s.events_dropped_queue = queue_.dropped();
  s.messages_sent = counters_.messages_sent.load();
  s.messages_written = counters_.messages_written.load();
  s.messages_dropped = counters_.messages_dropped.load();
  s.connects = counters_.connects.load();
  s.connect_failures = counters_.connect_failures.load();
  s.disconnects = counters_.disconnects.load();
  s.connected = counters_.connected.load();
  return s;
}

void MqttPublisher::Run() {
  Session s;
  s.owner = this;
  std::string client_id = options_.client_id.empty()
                              ? absl::StrFormat("dmrswitch-%d-%d", hub_.server_id, getpid())
                              : options_.client_id;
  s.mosq = mosquitto_new(client_id.c_str(), true, &s);
  if (!s.mosq) return;
  const std::string status_topic = prefix_ + "/status";
  const std::string offline =
      Dump({{"online", false}, {"server_id", hub_.server_id}, {"reason", "lost"}});
  mosquitto_will_set(s.mosq, status_topic.c_str(), static_cast<int>(offline.size()), offline.data(),
                     1, true);
  if (!options_.username.empty()) {
    mosquitto_username_pw_set(s.mosq, options_.username.c_str(),
                              options_.password.empty() ? nullptr : options_.password.c_str());
  }
  mosquitto_connect_callback_set(s.mosq, [](mosquitto*, void* obj, int rc) {
    auto* session = static_cast<Session*>(obj);
    if (rc != 0) return;  // refused: the disconnect path retries
    session->connected = true;
    session->inflight = 0;
    session->live_mids.clear();
    session->other_mids.clear();
    session->backoff = std::chrono::milliseconds(0);
    session->owner->counters_.connects.fetch_add(1);
    session->owner->counters_.connected.store(true);
  });
  mosquitto_disconnect_callback_set(s.mosq, [](mosquitto*, void* obj, int) {
    auto* session = static_cast<Session*>(obj);
    if (session->connected) session->owner->counters_.disconnects.fetch_add(1);
    session->connected = false;
    session->socket_open = false;
    session->owner->counters_.connected.store(false);
  });
  mosquitto_publish_callback_set(
      s.mosq, [](mosquitto*, void* obj, int mid) { static_cast<Session*>(obj)->Written(mid); });

  std::shared_ptr<const HubState> state;
  uint64_t seen_version = 0;
  bool announced = false;  // online + retained peers sent on this connection
  auto peer_topic = [&](const std::string& name) { return prefix_ + "/peer/" + name; };
  auto remember_peer = [&](const PeerView& p, const std::string& reason) {
    json j = ToJson(p);
    if (!reason.empty()) j["reason"] = reason;
    s.retained_peers[peer_topic(p.name)] = Dump(j);
    s.cleared_peers.erase(peer_topic(p.name));  // a peer added again under the same name
  };

  while (!stop_.load(std::memory_order_relaxed)) {
    auto now = Clock::now();
    // (Re)connect with exponential backoff.
    if (!s.socket_open && now >= s.next_attempt) {
      int rc = mosquitto_connect_async(s.mosq, options_.host.c_str(), options_.port,
                                       options_.keepalive_s);
      if (rc == MOSQ_ERR_SUCCESS) {
        s.socket_open = true;
      } else {
        counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
      }
      s.backoff = s.backoff.count() == 0 ? options_.reconnect_min
                                         : std::min(options_.reconnect_max, s.backoff * 2);
      s.next_attempt = now + s.backoff;
      announced = false;
    }
    if (s.socket_open) {
      int rc = mosquitto_loop(s.mosq, static_cast<int>(options_.poll_interval.count()), 1);
      if (rc != MOSQ_ERR_SUCCESS) {
        // Lost, refused or timed out (a stopped broker misses its keepalive): start over.
        if (s.connected) counters_.disconnects.fetch_add(1, std::memory_order_relaxed);
        mosquitto_disconnect(s.mosq);
        s.connected = false;
        s.socket_open = false;
        counters_.connected.store(false);
        if (s.next_attempt < Clock::now()) s.next_attempt = Clock::now() + s.backoff;
      }
    } else {
      std::this_thread::sleep_for(options_.poll_interval);
    }

    uint64_t version = state_version_.load(std::memory_order_acquire);
    if (version != seen_version) {
      seen_version = version;
      state = state_.load();
      if (state) {
        // A state lists every peer the hub has: a retained one it no longer lists was removed,
        // whether or not the "removed" event arrived (a full queue drops it) or came first (a
        // state read just before it can still list the peer; the next one does not).
        std::set<std::string> listed;
        for (const PeerView& p : state->peers) {
          remember_peer(p, "");
          listed.insert(peer_topic(p.name));
        }
        for (auto it = s.retained_peers.begin(); it != s.retained_peers.end();) {
          if (listed.contains(it->first)) {
            ++it;
            continue;
          }
          s.cleared_peers.insert(it->first);
          it = s.retained_peers.erase(it);
        }
      }
      if (s.connected && state) {
        for (const PeerView& p : state->peers) {
          s.Send(peer_topic(p.name), s.retained_peers[peer_topic(p.name)], 1, true, false);
        }
      }
    }
    if (s.connected && !announced) {
      json online = ToJson(hub_);
      online["online"] = true;
      online["time"] = static_cast<double>(NowUnixNs()) / 1e9;
      s.Send(status_topic, Dump(online), 1, true, false);
      for (const auto& [topic, payload] : s.retained_peers) s.Send(topic, payload, 1, true, false);
      announced = true;
    }
    if (s.connected) {
      for (auto it = s.cleared_peers.begin(); it != s.cleared_peers.end();) {
        it = s.Send(*it, "", 1, true, false) ? s.cleared_peers.erase(it) : std::next(it);
      }
    }

    // Events. Live ones go only to a connected broker that keeps up; peer states are
    // remembered either way.
    for (int budget = 4096; budget > 0; --budget) {
      auto event = queue_.TryPop();
      if (!event) break;
      if (const CallRecord* call = std::get_if<CallRecord>(&*event)) {
        s.Send(prefix_ + (call->ended ? "/call/end" : "/call/start"), Dump(ToJson(*call)), 0, false,
               true);
        if (options_.bm_session)
          s.Send(prefix_ + "/Session", Dump(BmSession(*call)), 0, false, true);
      } else if (const ClientEvent* e = std::get_if<ClientEvent>(&*event)) {
        s.Send(prefix_ + "/client/" + std::string(ClientEventKindName(e->kind)), Dump(ToJson(*e)),
               0, false, true);
      } else if (const PeerEvent* e = std::get_if<PeerEvent>(&*event)) {
        PeerView view;
        if (e->peer) {
          view = *e->peer;
        } else {
          view.name = e->name;
          view.up = e->up;
          view.state_since_unix_ns = e->time_unix_ns;
        }
        const std::string topic = peer_topic(view.name);
        remember_peer(view, e->reason);
        if (e->reason == "removed") {
          // Told to whoever listens now, and then gone from the broker: a later subscriber must
          // not find a peer the hub no longer has.
          s.Send(topic, s.retained_peers[topic], 1, false, false);
          s.retained_peers.erase(topic);
          s.cleared_peers.insert(topic);
          continue;
        }
        s.Send(topic, s.retained_peers[topic], 1, true, false);
      }
    }
  }

  // Say goodbye when the broker is there to hear it; bounded either way.
  if (s.connected) {
    std::string stopped =
        Dump({{"online", false}, {"server_id", hub_.server_id}, {"reason", "stopped"}});
    int mid = 0;
    mosquitto_publish(s.mosq, &mid, status_topic.c_str(), static_cast<int>(stopped.size()),
                      stopped.data(), 1, true);
    auto deadline = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < deadline && mosquitto_want_write(s.mosq)) {
      if (mosquitto_loop(s.mosq, 10, 1) != MOSQ_ERR_SUCCESS) break;
    }
    mosquitto_disconnect(s.mosq);
    mosquitto_loop(s.mosq, 10, 1);
  }
  mosquitto_destroy(s.mosq);
  counters_.connected.store(false);
}

}  // namespace dmrswitch::cp::report
