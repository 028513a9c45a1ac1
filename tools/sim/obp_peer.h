// A simulated OpenBridge peer (PROTOCOL.md §2): a BrandMeister/HBlink3-style classic OBP v1 link
// (73-byte DMRD + HMAC-SHA1) or a FreeDMR FBP v5 link (89-byte DMRE with keyed BLAKE2b, plus
// BCKA keepalives). It sends calls towards the hub, verifies and collects what the hub sends, and
// counts the bridge-control packets (BCKA/BCSQ/BCVE/BCST) it receives. Single-threaded like
// HbpClient: poll it (directly or with PollUntil/PollFor) to make it send and receive.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/obp.h"
#include "tools/sim/call_endpoint.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/paced_sender.h"
#include "tools/sim/udp.h"

namespace dmrswitch::sim {

enum class ObpMode : uint8_t {
  kObpV1,  // classic OpenBridge: TS1 only, HMAC-SHA1, no control packets unless sent by hand
  kFbpV5,  // FreeDMR FreeBridge: DMRE v5, BCKA every keepalive_interval
};

struct ObpPeerOptions {
  ObpMode mode = ObpMode::kFbpV5;
  // Our server/network ID: bytes 11..14 of every DMRD/DMRE we send.
  uint32_t network_id = 0;
  std::string passphrase{};
  Endpoint hub{"127.0.0.1", 62035};  // the hub's OBP listener: where we send
  Endpoint local{"127.0.0.1", 0};    // our fixed source address
  // DMRE trailer.
  uint8_t version = 5;
  uint32_t origin_server = 0;    // 0 = network_id
  uint32_t origin_repeater = 0;  // v5 originating repeater field
  uint8_t hops = 1;
  absl::Duration timestamp_offset = absl::ZeroDuration();  // e.g. -10 s for a stale stream
  // BCKA: sent at the first poll and then every keepalive_interval (FreeDMR sends nothing to a
  // peer it has not heard a BCKA from). Defaults to on for kFbpV5, off for kObpV1.
  std::optional<bool> keepalives{};
  absl::Duration keepalive_interval = absl::Seconds(10);
  bool collect_frames = true;
  // Accept packets from addresses other than `hub` (FreeDMR RELAX_CHECKS); they are counted in
  // foreign_source either way.
  bool accept_any_source = false;
};

struct ObpPeerCounters {
  uint64_t dmrd_rx = 0;  // valid classic OBP frames
  uint64_t dmre_rx = 0;  // valid DMRE frames
  uint64_t bcka_rx = 0;
  uint64_t bcsq_rx = 0;
  uint64_t bcve_rx = 0;
  uint64_t bcst_rx = 0;
  uint64_t bad_mac = 0;
  uint64_t rx_unknown = 0;
  uint64_t foreign_source = 0;
  uint64_t frames_tx = 0;
  uint64_t bcka_tx = 0;
  uint64_t tx_errors = 0;
};

class ObpPeer : public CallEndpoint {
 public:
  explicit ObpPeer(ObpPeerOptions options);
  ObpPeer(const ObpPeer&) = delete;
  ObpPeer& operator=(const ObpPeer&) = delete;

  // Socket error, if opening failed.
  absl::Status status() const { return status_; }

  // Calls (CallEndpoint): frames are built as for HBP (repeater_id defaults to network_id; use
  // ts = 1 for OBP, the builder does not force it) and signed per the mode when sent. Classic OBP
  // frames are collected as their 53 DMRD bytes, DMRE frames as 55 DMRD-shaped bytes plus
  // ReceivedFrame::dmre.

  // Bridge control, now.
  void SendBcka();
  void SendBcsq(uint32_t tg, uint32_t stream_id);
  void SendBcve(uint8_t version);
  void SendBcst();
  absl::Status SendRaw(std::span<const uint8_t> bytes);
  // Signs one DMRD-shaped 55-byte frame the way this peer sends it (73 or 85/89 bytes).
  std::vector<uint8_t> Sign(const DmrdFrame& frame, absl::Time now) const;

  const ObpPeerCounters& counters() const { return counters_; }
  // Every BCSQ received, in order.
  const std::vector<proto::Bcsq>& quenches() const { return quenches_; }
  // Version carried by the last BCVE received (0 = none).
  uint8_t last_bcve_version() const { return last_bcve_version_; }
  absl::Time last_bcka() const { return last_bcka_; }
  const Endpoint& local_address() const { return socket_.local(); }
  const ObpPeerOptions& options() const { return options_; }

  // Pollable.
  int poll_fd() const override { return socket_.fd(); }
  absl::Time NextDeadline() const override;
  void OnReadable(absl::Time now) override;
  void OnTimers(absl::Time now) override;

 protected:
  uint32_t sender_id() const override { return options_.network_id; }
  uint64_t frames_received() const override { return counters_.dmrd_rx + counters_.dmre_rx; }

 private:
  void Handle(std::span<const uint8_t> pkt, const sockaddr_storage& from, absl::Time arrival);
  void Transmit(std::span<const uint8_t> bytes);
  void Collect(const ReceivedFrame& f);

  ObpPeerOptions options_;
  proto::HmacSha1 hmac_;
  proto::Blake2bMac128 blake_;
  UdpSocket socket_;
  SockAddr hub_sa_{};  // either family
  absl::Status status_{};
  bool keepalives_ = false;
  absl::Time next_bcka_ = absl::InfinitePast();  // first poll sends one
  absl::Time last_bcka_ = absl::InfinitePast();
  ObpPeerCounters counters_;
  std::vector<proto::Bcsq> quenches_{};
  uint8_t last_bcve_version_ = 0;
};

}  // namespace dmrswitch::sim
