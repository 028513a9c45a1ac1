// A simulated HBP client (hotspot/repeater) behaving like MMDVMHost's direct network client and
// DMRGateway (PROTOCOL.md §1.6): login state machine with per-state resend, keepalive, MSTNAK /
// MSTCL handling, RPTCL on Close(). One UDP socket per client, bound to a fixed local address and
// connected to the hub, so the source address never changes and only the hub's datagrams arrive.
//
// Single-threaded: nothing happens unless the caller polls (Poll, RunFor, or any blocking call
// such as Login, SendVoiceCall, Receive; several clients at once with PollUntil/PollFor from
// udp.h). Frames that arrive while the client is not polled wait in the kernel socket buffer and
// keep their kernel arrival timestamps.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/sim/call_endpoint.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/paced_sender.h"
#include "tools/sim/udp.h"

namespace dmrswitch::sim {

// MMDVMHost's states, plus kDisconnected (waiting to start or restart a login) and kClosed.
enum class HbpClientState : uint8_t {
  kDisconnected,
  kWaitingLogin,          // RPTL sent
  kWaitingAuthorisation,  // RPTK sent
  kWaitingConfig,         // RPTC sent
  kWaitingOptions,        // RPTO sent
  kRunning,
  kClosed,  // Close() or Abandon(): nothing more is sent
};
std::string_view HbpClientStateName(HbpClientState s);

struct HbpClientOptions {
  uint32_t id = 0;
  std::string passphrase{};
  Endpoint hub{"127.0.0.1", 62031};
  std::string options{};  // sent as RPTO after the config is acked; empty = no RPTO
  char slots = '3';       // RPTC slots: '1', '2', '3' both, '4' simplex/DMO
  std::string callsign = "N0CALL";
  Endpoint local{"127.0.0.1", 0};  // source address (port 0 = ephemeral, then fixed)

  absl::Duration ping_interval = absl::Seconds(10);   // RPTPING while running
  absl::Duration retry_interval = absl::Seconds(10);  // resend of the current login packet
  absl::Duration timeout = absl::Seconds(60);  // no RPTACK/MSTPONG for this long → log in again
  // Delay before logging in again after MSTCL, a timeout or MSTNAK while running. A MSTNAK
  // during login waits retry_interval instead (MMDVMHost closes and reopens, then retries).
  absl::Duration reconnect_delay = absl::ZeroDuration();
  bool auto_reconnect = true;
  bool collect_frames = true;  // keep received DMRD for Receive(); false = count only

  // RPTC fields (PROTOCOL.md §1.4), as MMDVMHost fills them.
  std::string rx_freq = "434000000";
  std::string tx_freq = "434000000";
  std::string tx_power = "01";
  std::string color_code = "01";
  std::string latitude = "0.000000";
  std::string longitude = "00.000000";
  std::string height = "000";
  std::string location = "Simulator";
  std::string description = "dmrswitch-sim";
  std::string url = "https://example.invalid/";
  std::string software_id = "20230605_dmrswitch-sim";
  std::string package_id = "MMDVM_MMDVM_HS_Dual_Hat";
};

struct HbpClientCounters {
  uint64_t login_attempts = 0;  // RPTL sent from kDisconnected
  uint64_t logins = 0;          // reached kRunning
  uint64_t acks = 0;            // RPTACK received
  uint64_t naks = 0;            // MSTNAK received
  uint64_t mstcl = 0;           // MSTCL received
  uint64_t pings_sent = 0;
  uint64_t pongs = 0;  // MSTPONG received
  uint64_t timeouts = 0;
  uint64_t beacons = 0;  // RPTSBKN received
  uint64_t resends = 0;  // login packets sent again by the retry timer
  uint64_t dmrd_rx = 0;
  uint64_t dmrd_rx_bytes = 0;
  uint64_t dmrd_ignored = 0;  // DMRD received while not running
  uint64_t dmrd_tx = 0;
  uint64_t dmrd_tx_errors = 0;  // voice/data frames the socket refused (not in dmrd_tx)
  uint64_t rx_unknown = 0;      // undecodable or unexpected packets
  uint64_t icmp_errors = 0;
  uint64_t tx_errors = 0;
};

class HbpClient : public CallEndpoint {
 public:
  // Opens the socket; a failure is reported by status() and by Login().
  explicit HbpClient(HbpClientOptions options);
  ~HbpClient() override;  // sends RPTCL if running (an orderly shutdown)
  HbpClient(const HbpClient&) = delete;
  HbpClient& operator=(const HbpClient&) = delete;

  // Starts a login (unless one is under way or done) and polls until kRunning, a MSTNAK, or
  // `timeout`. Errors: PermissionDenied "MSTNAK after RPTK: bad passphrase" etc.,
  // DeadlineExceeded naming the state reached, or the socket error.
  absl::Status Login(absl::Duration timeout);
  // Non-blocking: sends RPTL now; poll to progress.
  void StartLogin();
  // Sends RPTCL (if logged in or logging in) and stops; `wait` > 0 polls up to that long for the
  // hub's MSTNAK answer (returns true if it came).
  bool Close(absl::Duration wait = absl::ZeroDuration());
  // Stops silently, like a hotspot losing power: no RPTCL, the socket is closed.
  void Abandon();
  // RPTO with new options while running (FreeDMR accepts it in any state); acked by RPTACK.
  absl::Status SendOptions(std::string options);

  // Any bytes, now (malformed packets, spoofing tests).
  absl::Status SendRaw(std::span<const uint8_t> bytes);
  // Calls out and in: see CallEndpoint (StartVoiceCall, Receive, ...).

  HbpClientState state() const { return state_; }
  bool running() const { return state_ == HbpClientState::kRunning; }
  const HbpClientCounters& counters() const { return counters_; }
  // Socket error, or why the last login failed; OK otherwise.
  absl::Status status() const { return status_; }
  uint32_t id() const { return options_.id; }
  const Endpoint& local_address() const { return socket_.local(); }
  const HbpClientOptions& options() const { return options_; }
  absl::Time last_pong() const { return last_pong_; }
  // Why the socket last refused a frame ("" if it never did).
  const std::string& last_tx_error() const { return last_tx_error_; }

  // Pollable.
  int poll_fd() const override { return socket_.fd(); }
  absl::Time NextDeadline() const override;
  void OnReadable(absl::Time now) override;
  void OnTimers(absl::Time now) override;

 protected:
  uint32_t sender_id() const override { return options_.id; }
  uint64_t frames_received() const override { return counters_.dmrd_rx; }

 private:
  void Handle(std::span<const uint8_t> pkt, absl::Time arrival);
  void EnterState(HbpClientState s, absl::Time now);
  // Sends the packet belonging to the current login state (RPTL/RPTK/RPTC/RPTO).
  void SendStatePacket();
  void SendIdPacket(proto::HbpType type);
  void SendRptk();
  void SendRptc();
  void SendRpto();
  void Reconnect(absl::Time now, absl::Duration delay);
  void Transmit(std::span<const uint8_t> bytes);

  HbpClientOptions options_;
  UdpSocket socket_;
  absl::Status status_{};
  HbpClientState state_ = HbpClientState::kDisconnected;
  uint32_t salt_ = 0;
  absl::Time retry_at_ = absl::InfiniteFuture();    // resend / ping / reconnect
  absl::Time timeout_at_ = absl::InfiniteFuture();  // no answer → start over
  absl::Time last_pong_ = absl::InfinitePast();
  bool login_requested_ = false;  // Login()/StartLogin() was called: reconnects are allowed
  bool icmp_seen_ = false;
  HbpClientCounters counters_;
  std::string last_tx_error_;
};

}  // namespace dmrswitch::sim
