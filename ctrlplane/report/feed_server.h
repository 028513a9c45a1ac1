// FeedServer: a TCP report socket for dashboards (the HBlink/FreeDMR pickle feed or HBlink3
// v3's NDJSON feed, chosen by its FeedFormat).
//
// Threads and ownership: the server owns one thread of its own that accepts, reads, formats and
// writes, with non-blocking sockets and poll(). The control plane talks to it from ONE thread
// (the producer) through Publish() and SetState(); neither ever blocks nor waits for a dashboard:
//   - Publish() moves the event into a bounded SPSC queue; a full queue drops it and counts it.
//   - SetState() swaps an immutable HubState in; the server thread picks up the newest one.
// stats() may be read from any thread.
//
// Each dashboard gets the full snapshot the moment it connects (stock dashboards otherwise stay
// blank until the next periodic push), then every event, and a fresh snapshot every
// `snapshot_interval` (and within `min_snapshot_interval` of a state change). Output per
// connection is buffered up to `max_buffered_bytes`; a dashboard that stops reading is dropped
// when its buffer would overflow, and counted. Connections beyond `max_connections` are refused.
// Binds loopback unless configured otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "ctrlplane/report/feed_format.h"
#include "ctrlplane/report/model.h"
#include "ctrlplane/report/spsc_queue.h"

namespace dmrswitch::cp::report {

struct FeedServerOptions {
  std::string name = "feed";  // for messages
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (see port())
  size_t max_connections = 16;
  size_t max_buffered_bytes = 4 << 20;  // per connection; must hold a few snapshots
  size_t queue_capacity = 16384;        // events between the producer and the server thread
  std::chrono::milliseconds snapshot_interval{10000};
  std::chrono::milliseconds min_snapshot_interval{1000};
  std::chrono::milliseconds poll_interval{10};  // how long the server thread sleeps when idle
};

struct FeedServerStats {
  uint64_t events_published = 0;  // accepted by Publish()
  uint64_t events_dropped = 0;    // refused by Publish(): the queue was full
  uint64_t messages_sent = 0;     // messages queued to connections (events and snapshots)
  uint64_t bytes_sent = 0;        // bytes written to sockets
  uint64_t snapshots_sent = 0;    // snapshots queued to connections
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t connections_dropped = 0;  // stopped reading: buffer bound reached
  uint64_t connections_closed = 0;   // closed by the dashboard or an error
  uint64_t connections = 0;          // open now
  uint64_t trimmed = 0;              // FeedFormat::trimmed()
};

class FeedServer {
 public:
  static absl::StatusOr<std::unique_ptr<FeedServer>> Start(FeedServerOptions options,
                                                           std::unique_ptr<FeedFormat> format);
  ~FeedServer();  // stops the thread and closes every socket
  FeedServer(const FeedServer&) = delete;
  FeedServer& operator=(const FeedServer&) = delete;

  // Producer thread only. Never blocks; false when the event was dropped (queue full).
  bool Publish(ReportEvent event);
  bool Publish(const CallRecord& call) { return Publish(ReportEvent(call)); }
  bool Publish(const ClientEvent& e) { return Publish(ReportEvent(e)); }
  bool Publish(const PeerEvent& e) { return Publish(ReportEvent(e)); }
  // Any thread. Never blocks (an atomic pointer swap).
  void SetState(std::shared_ptr<const HubState> state);

  uint16_t port() const { return port_; }
  FeedServerStats stats() const;

 private:
  FeedServer(FeedServerOptions options, std::unique_ptr<FeedFormat> format);
  void Run();

  FeedServerOptions options_;
  std::unique_ptr<FeedFormat> format_;  // server thread only
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  SpscQueue<ReportEvent> queue_;
  std::atomic<std::shared_ptr<const HubState>> state_;
  std::atomic<uint64_t> state_version_{0};
  std::atomic<bool> stop_{false};
  struct Counters {
    std::atomic<uint64_t> messages_sent{0}, bytes_sent{0}, snapshots_sent{0},
        connections_accepted{0}, connections_refused{0}, connections_dropped{0},
        connections_closed{0}, connections{0}, trimmed{0};
  } counters_;
  std::thread thread_;
};

}  // namespace dmrswitch::cp::report
