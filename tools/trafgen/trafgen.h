// dmrswitch-trafgen (issue #4 items 4(b) and 5): a DPDK generator process for the pps harness.
// It replays the frames of a pcap on one DPDK port (net_memif towards the hub) at an offered
// rate and counts everything the port receives back. This header holds the parts that need no
// EAL: options, the pcap loader, the token bucket and the result line.
#ifndef DMRSWITCH_TOOLS_TRAFGEN_TRAFGEN_H_
#define DMRSWITCH_TOOLS_TRAFGEN_TRAFGEN_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace dmrswitch::trafgen {

struct Options {
  std::string pcap;              // frames to send; empty with rx_only
  double rate_pps = 0;           // offered rate; 0 = as fast as the port takes them
  double seconds = 5;            // sending time, counted from link up
  uint16_t port = 0;             // DPDK port (position among the probed ports)
  uint16_t burst = 32;           // TX/RX burst size
  uint32_t bucket = 64;          // token bucket depth (packets)
  double link_timeout_s = 10;    // how long to wait for the link (memif: the peer) to come up
  double drain_ms = 200;         // receiving after the last send
  bool rx_only = false;          // send nothing, count what arrives for `seconds`
  bool latency = false;          // time every DMRD copy from TX to its return (LatencyIndex)
  std::vector<std::string> eal;  // EAL arguments, completed by CompleteEalArgs
};

// Parses `dmrswitch-trafgen [options] [-- EAL args]`. Returns the usage text as the error for
// --help.
absl::StatusOr<Options> ParseArgs(int argc, char** argv);

// The EAL argument vector: argv[0], the given arguments, and the defaults the generator needs
// where they are not given: --no-pci (unless -a/--allow/--no-pci), -l 0 (unless
// -l/--lcores/-c), --file-prefix=dsw-trafgen-PID, --in-memory (no hugepage files or
// runtime directory are left behind; --no-shconf with --no-huge),
// --log-level=lib.eal:error and --no-telemetry.
std::vector<std::string> CompleteEalArgs(const std::vector<std::string>& given, int pid);

// All frames of a classic pcap file, in order (link type Ethernet). Fails on an empty file or a
// frame longer than max_len.
absl::StatusOr<std::vector<std::string>> LoadPcapFrames(const std::string& path,
                                                        size_t max_len = 2048);

// Token bucket on a cycle counter: `rate` tokens per second at `hz` cycles per second, at most
// `depth` tokens banked. rate 0 = unlimited (Take grants everything asked for).
class TokenBucket {
 public:
  TokenBucket(double rate, uint64_t hz, uint32_t depth, uint64_t now);
  // Up to `want` tokens, taken from the bucket at cycle `now`.
  uint32_t Take(uint64_t now, uint32_t want);

 private:
  double per_cycle_;
  double depth_;
  double tokens_;
  uint64_t last_;
};

// The key of a DMRD datagram in an Ethernet/IPv4/UDP frame (untagged or one 802.1Q tag): its
// stream ID and sequence number, (stream_id << 8) | seq. The hub keeps both on every copy it
// sends of a frame (to HBP clients and OBP peers alike) while it rewrites the rest of the header
// and, per destination, the payload; so they identify the frame a copy came from. -1: not DMRD.
int64_t DmrdKey(const uint8_t* frame, size_t len);
// The same key of a UDP payload (a datagram a socket received), or -1.
int64_t DmrdPayloadKey(const uint8_t* payload, size_t len);

// --latency: which frames of the pcap are DMRD, and one timestamp slot per distinct key. Frames
// that share a key share a slot, and a copy is timed against the slot's last send: one that
// comes back after its key was sent again is timed too short, undetected. A key comes back once
// per pass over the file, or sooner in a call longer than 256 frames (its sequence number
// wraps): keep calls at most 256 frames and the pass longer than any latency of interest.
class LatencyIndex {
 public:
  explicit LatencyIndex(const std::vector<std::string>& frames);
  // The slot of pcap frame i, or -1 (not DMRD).
  int32_t frame_slot(size_t i) const { return frame_slot_[i]; }
  // The slot of a received frame, or -1 (not DMRD, or a key the pcap does not have).
  int32_t Find(const uint8_t* frame, size_t len) const;
  size_t slots() const { return slots_.size(); }

 private:
  absl::flat_hash_map<int64_t, int32_t> slots_;
  std::vector<int32_t> frame_slot_;
};

// Latency samples in nanoseconds, log-linear buckets: exact below 16 ns, then 16 buckets per
// power of two (a bucket is at most 1/16 = 6.25 % wide). Percentiles are the bucket's upper
// bound: never below the true value.
class LatencyHistogram {
 public:
  static constexpr int kSub = 16;
  static constexpr size_t kBuckets = kSub + (64 - 4) * kSub;
  void Add(uint64_t ns);
  // The q-quantile (0 < q <= 1) of the samples, 0 without samples.
  uint64_t Percentile(double q) const;
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  static size_t Bucket(uint64_t ns);
  static uint64_t UpperBound(size_t bucket);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

struct Result {
  uint64_t frames = 0;  // distinct frames in the pcap
  double requested_pps = 0;
  double seconds = 0;      // sending time actually spent
  uint64_t sent = 0;       // accepted by the port
  uint64_t tx_failed = 0;  // offered but refused by the port (ring full: the peer did not drain)
  uint64_t received = 0;   // IPv4 (optionally 802.1Q-tagged) frames received
  uint64_t rx_other = 0;   // anything else received (ARP, ...)
  uint64_t rx_missed = 0;  // port statistics: imissed + rx_nombuf + ierrors
  double busy = 0;         // share of loop cycles that moved at least one packet
  bool latency = false;    // --latency: the fields below are printed
  LatencyHistogram lat;    // TX of a DMRD frame to the return of each copy
  uint64_t lat_unmatched = 0;  // received frames with no DMRD key the generator sent
  uint64_t lat_sent = 0;       // frames the port took that carry a DMRD key (voice)
};

// `trafgen: offered_pps=... sent=... tx_failed=... received=... rx_pps=... ...`: the one
// machine-readable line the generator prints at the end.
std::string FormatResult(const Result& r);

// Whether an Ethernet frame counts as `received` (IPv4, untagged or one 802.1Q tag).
bool IsIpv4Frame(const uint8_t* frame, size_t len);

}  // namespace dmrswitch::trafgen

#endif  // DMRSWITCH_TOOLS_TRAFGEN_TRAFGEN_H_
