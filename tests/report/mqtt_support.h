// A real mosquitto broker for tests (generated configuration, free loopback port, always
// killed) and a libmosquitto subscriber that records what it receives.
#pragma once

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report::testing {

using nlohmann::json;
using std::chrono::milliseconds;

inline std::string MosquittoBinary() {
  for (const char* path : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "mosquitto";
}

inline bool CanConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// A mosquitto broker with a generated configuration, no persistence, loopback only.
class Broker {
 public:
  explicit Broker(const TempDir& dir) : dir_(dir) {}
  bool Start(uint16_t port = 0) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = port ? port : FreeLoopbackPort();
      WriteFile(dir_.File("mosquitto.conf"), "listener " + std::to_string(port_) +
                                                 " 127.0.0.1\nallow_anonymous true\n"
                                                 "persistence false\nlog_dest stderr\n");
      if (!child_.Start({MosquittoBinary(), "-c", dir_.File("mosquitto.conf")},
                        dir_.File("mosquitto.out"), dir_.File("mosquitto.err"))) {
        return false;
      }
      if (WaitUntil([&] { return !child_.running() || CanConnect(port_); }, milliseconds(5000)) &&
          child_.running()) {
        return true;
      }
      child_.Kill();
      if (port) WaitUntil([] { return false; }, milliseconds(200));
    }
    return false;
  }
  void Kill() { child_.Kill(); }
  void Stop() { child_.Signal(SIGSTOP); }
  void Continue() { child_.Signal(SIGCONT); }
  uint16_t port() const { return port_; }
  std::string log() const { return ReadFile(dir_.File("mosquitto.err")); }

 private:
  const TempDir& dir_;
  Child child_;
  uint16_t port_ = 0;
};

struct Message {
  std::string topic;
  std::string payload;
  bool retained;
};

// A libmosquitto subscriber to <prefix>/# that resubscribes after every reconnect.
class Subscriber {
 public:
  Subscriber(uint16_t port, std::string filter) : filter_(std::move(filter)) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* obj, int rc) {
      if (rc == 0) {
        mosquitto_subscribe(m, nullptr, static_cast<Subscriber*>(obj)->filter_.c_str(), 1);
      }
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*) {
      static_cast<Subscriber*>(obj)->subscribed_.fetch_add(1);
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* m) {
      auto* self = static_cast<Subscriber*>(obj);
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->messages_.push_back(
          {m->topic, std::string(static_cast<const char*>(m->payload), m->payloadlen), m->retain});
    });
    mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
    mosquitto_connect_async(mosq_, "127.0.0.1", port, 60);
    mosquitto_loop_start(mosq_);
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  int subscribed() const { return subscribed_.load(); }
  std::vector<Message> All() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  std::vector<Message> On(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Message> out;
    for (const Message& m : messages_) {
      if (m.topic == topic) out.push_back(m);
    }
    return out;
  }
  // Waits until `topic` has a message for which `match` holds; returns it as JSON (or null).
  json WaitFor(const std::string& topic, const std::function<bool(const json&)>& match,
               milliseconds limit = milliseconds(15000), bool* retained = nullptr) {
    json found;
    WaitUntil(
        [&] {
          for (const Message& m : On(topic)) {
            json j = json::parse(m.payload, nullptr, false);
            if (!j.is_discarded() && match(j)) {
              found = j;
              if (retained) *retained = m.retained;
              return true;
            }
          }
          return false;
        },
        limit);
    return found;
  }

 private:
  std::string filter_;
  mosquitto* mosq_;
  std::mutex mutex_;
  std::vector<Message> messages_;
  std::atomic<int> subscribed_{0};
};

}  // namespace dmrswitch::cp::report::testing
