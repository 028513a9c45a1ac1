// DMR call builders and received-call analysis for the simulator (PROTOCOL.md §1.3, Part C).
//
// Builders produce the DMRD frames a hotspot sends for one call, exactly in MMDVMHost's order:
// voice LC header (data sync, data type 1), superframes of bursts A..F (A: voice sync, vseq 0;
// B..E: embedded LC fragments; F: null fragment), terminator with LC (data type 2); seq from 0
// wrapping at 255, one random non-zero stream ID per call, always 55 bytes.
//
// What the 33-byte bursts carry (bit 0 = MSB of byte 0):
//   * sync, bits 108..155: BS-sourced voice sync 0x755FD7DF75F7 in burst A, BS-sourced data sync
//     0xDFF57D75DF5D in data bursts (header, terminator, data header and blocks);
//   * bursts B..F: EMB (colour code, PI = 0, LCSS) in bits 108..115 and 148..155 with the
//     QR(16,7,6) parity bits left zero (the codec library has no QR coder; hotspots and the hub
//     regenerate EMB), embedded fragment in 116..147 (EncodeEmbeddedLc + SetEmbeddedFragment);
//   * data bursts: slot type (colour code, data type) in bits 98..107 and 156..165 with the
//     Golay(20,8) parity bits left zero, for the same reason;
//   * vocoder bits of voice bursts: three copies of the AMBE+2 silence frame
//     B9 E8 81 52 61 73 00 2A 6B;
//   * header/terminator: full LC via EncodeFullLc (BPTC(196,96), RS(12,9) masks 0x96 / 0x99);
//   * data header and rate-1/2 blocks: a fixed, block-numbered byte pattern in the 196 info bits
//     (the codec library does not expose BPTC for arbitrary 96-bit blocks).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::sim {

// 48-bit sync patterns (ETSI TS 102 361-1 §9.1.1), as written into burst bits 108..155.
inline constexpr uint64_t kBsVoiceSync = 0x755FD7DF75F7ULL;
inline constexpr uint64_t kBsDataSync = 0xDFF57D75DF5DULL;
inline constexpr uint64_t kMsVoiceSync = 0x7F7D5DD57DFDULL;
inline constexpr uint64_t kMsDataSync = 0xD5D7F77FD757ULL;

// LCSS values of the EMB field (first / continuation / last fragment, single or null).
inline constexpr unsigned kLcssSingle = 0;
inline constexpr unsigned kLcssFirst = 1;
inline constexpr unsigned kLcssLast = 2;
inline constexpr unsigned kLcssContinuation = 3;

// One 55-byte DMRD as sent on the wire.
using DmrdFrame = std::array<uint8_t, proto::kDmrdBytes>;

// A voice call. Group call (FLCO 0) unless private_call (FLCO 3 unit-to-unit, call-type bit 6
// set): private voice calls to 4000 / 5000 / N are how users drive dial-a-TG.
struct VoiceCallSpec {
  uint32_t tg = 0;  // destination: talkgroup, or subscriber ID for private calls
  unsigned ts = 2;  // 1 or 2
  uint32_t rf_src = 0;
  unsigned superframes = 3;                         // bursts A..F each
  absl::Duration cadence = absl::Milliseconds(60);  // between frames; zero = flat out
  bool private_call = false;
  uint32_t stream_id = 0;    // 0 = random non-zero
  uint32_t repeater_id = 0;  // bytes 11..14; 0 = the sender's own ID
  bool header = true;        // false: late entry (no voice LC header)
  bool terminator = true;    // false: the call ends without a terminator
  uint8_t color_code = 1;
  uint8_t ber = 0;
  uint8_t rssi = 60;  // |dBm|
  uint8_t first_seq = 0;
};

// A unit (or group) data call: data header (data type 6) then rate-1/2 blocks (data type 7).
struct DataCallSpec {
  uint32_t dst = 0;
  unsigned ts = 2;
  uint32_t rf_src = 0;
  unsigned blocks = 3;
  absl::Duration cadence = absl::Milliseconds(60);
  bool private_call = true;  // unit data (call-type bit set)
  uint32_t stream_id = 0;
  uint32_t repeater_id = 0;
  uint8_t color_code = 1;
  uint8_t ber = 0;
  uint8_t rssi = 60;
};

// The LC a voice call carries: FLCO 0 (group) or 3 (unit-to-unit), FID 0, service options 0.
proto::dmr::Lc VoiceLc(uint32_t dst, uint32_t src, bool private_call);

// A random non-zero 32-bit stream ID.
uint32_t RandomStreamId();

// The frames of one call. `sender_id` fills bytes 11..14 unless the spec sets repeater_id; a
// zero stream_id in the spec is replaced by RandomStreamId().
std::vector<DmrdFrame> BuildVoiceCall(const VoiceCallSpec& spec, uint32_t sender_id);
std::vector<DmrdFrame> BuildDataCall(const DataCallSpec& spec, uint32_t sender_id);

// Burst helpers (bit 0 = MSB of byte 0).
uint64_t GetBurstBits(proto::dmr::ConstBurst burst, unsigned first_bit, unsigned count);
void SetBurstBits(proto::dmr::Burst burst, unsigned first_bit, unsigned count, uint64_t value);
inline uint64_t GetSync(proto::dmr::ConstBurst burst) { return GetBurstBits(burst, 108, 48); }

// ---------------------------------------------------------------------------------------------
// Receive side.

// FBP DMRE trailer fields of a received frame.
struct DmreInfo {
  uint8_t version = 0;
  uint64_t timestamp_ns = 0;
  uint32_t origin_server = 0;
  uint32_t origin_repeater = 0;
  uint8_t hops = 0;
};

struct ReceivedFrame {
  absl::Time arrival{};  // kernel receive timestamp
  // The DMRD bytes as received: 55 (or 53) for HBP, 53 for classic OBP (MAC stripped), and for
  // DMRE the 55 DMRD-shaped bytes with the tag "DMRE" (trailer in `dmre`).
  std::array<uint8_t, proto::kDmrdBytes> bytes{};
  uint8_t length = 0;
  uint8_t seq = 0;
  uint32_t rf_src = 0;
  uint32_t dst = 0;
  uint32_t repeater_id = 0;
  proto::DmrdFlags flags{};
  uint32_t stream_id = 0;
  std::optional<DmreInfo> dmre{};

  proto::dmr::ConstBurst burst() const {
    return proto::dmr::ConstBurst(bytes.data() + proto::dmrd_offset::kPayload,
                                  proto::dmr::kBurstBytes);
  }
};

// Fills the frame's fields from a 53- or 55-byte DMRD/DMRE-shaped buffer (no checks).
ReceivedFrame MakeReceivedFrame(const uint8_t* dmrd, size_t length, absl::Time arrival);

// What one stream looked like, and whether it is a well-formed call.
struct ReceivedCall {
  uint32_t stream_id = 0;
  // From the first frame.
  uint32_t tg = 0;  // destination
  uint32_t rf_src = 0;
  uint32_t repeater_id = 0;  // bytes 11..14
  unsigned ts = 0;
  proto::CallType call_type = proto::CallType::kGroup;
  std::vector<ReceivedFrame> frames{};

  bool has_header = false;      // a voice LC header was seen
  bool has_terminator = false;  // a terminator with LC was seen
  bool header_first = false;    // ... as the first frame
  bool terminator_last = false;
  bool header_lc_ok = false;  // DecodeFullLc succeeded on the (first) header
  bool terminator_lc_ok = false;
  proto::dmr::Lc header_lc{};
  proto::dmr::Lc terminator_lc{};

  size_t voice_bursts = 0;  // frame types voice + voice sync
  size_t data_bursts = 0;   // data sync other than header/terminator
  size_t superframes = 0;   // bursts A seen
  // Embedded LC: superframes whose B..E fragments were all present and reassembled / failed.
  size_t embedded_lc_ok = 0;
  size_t embedded_lc_bad = 0;
  std::optional<proto::dmr::Lc> embedded_lc{};  // first one that decoded
  bool embedded_lc_consistent = true;           // every decoded one equals the first
  bool voice_order_ok = true;                   // vseq runs 0,1,2,3,4,5,0,... within superframes
  bool sync_ok = true;                          // sync/EMB area as the builder writes it

  bool seq_monotonic = true;  // every seq = previous + 1 (mod 256)
  size_t seq_gaps = 0;        // missing frames inferred from seq jumps
  bool all_55_bytes = true;
  bool fields_consistent = true;  // rf_src, dst, slot, call type, repeater ID never change

  absl::Time first_arrival = absl::InfinitePast();
  absl::Time last_arrival = absl::InfinitePast();

  size_t frame_count() const { return frames.size(); }
  absl::Duration duration() const { return last_arrival - first_arrival; }
  std::string DebugString() const;
};

// Analyses the frames of one stream, in arrival order.
ReceivedCall AnalyzeCall(std::vector<ReceivedFrame> frames);

// Expectations for ReceivedCall::Verify; unset fields are not checked.
struct ExpectedCall {
  std::optional<uint32_t> tg{};
  std::optional<unsigned> ts{};
  std::optional<uint32_t> rf_src{};
  std::optional<uint32_t> repeater_id{};
  std::optional<proto::CallType> call_type{};
  std::optional<size_t> frames{};
  bool header = true;      // header present, first, LC decodes to tg/rf_src
  bool terminator = true;  // terminator present, last, LC decodes to tg/rf_src
  bool embedded = true;    // at least one superframe's embedded LC decodes, none fails, to tg
  bool seq = true;         // seq monotonic, no gaps
  std::optional<size_t> frame_bytes = proto::kDmrdBytes;  // every frame this long
};

// OK, or FailedPrecondition listing every mismatch.
absl::Status Verify(const ReceivedCall& call, const ExpectedCall& want);

// Groups frames by stream ID (first-arrival order) and analyses each group.
class StreamCollector {
 public:
  void Add(const ReceivedFrame& frame);
  // Streams whose terminator has been seen.
  size_t completed() const { return completed_; }
  size_t streams() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  // Analyses and returns every stream collected so far, and forgets them.
  std::vector<ReceivedCall> Take();

 private:
  absl::flat_hash_map<uint32_t, size_t> index_{};
  std::vector<uint32_t> order_{};
  std::vector<std::vector<ReceivedFrame>> frames_{};
  std::vector<bool> terminated_{};
  size_t completed_ = 0;
};

}  // namespace dmrswitch::sim
