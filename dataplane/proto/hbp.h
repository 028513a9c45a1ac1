// Homebrew protocol (HBP, binary MMDVM variant): decoders and encoders for every packet of
// PROTOCOL.md §1.2. Decoders read a byte span, never allocate, never read past the span and
// return one Reject reason per failure; views point into the caller's buffer. Encoders write into
// a caller-supplied buffer and return the number of bytes written (0 if it does not fit).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/reject.h"

namespace dmrswitch::proto {

enum class HbpType : uint8_t {
  kUnknown = 0,
  kRptl,     // C→M login request
  kRptack,   // M→C ack (salt after RPTL, id afterwards)
  kMstnak,   // M→C reject / not logged in
  kRptk,     // C→M login digest
  kRptc,     // C→M configuration
  kRpto,     // C→M options string
  kRptping,  // C→M keepalive
  kMstpong,  // M→C keepalive reply
  kRptcl,    // C→M disconnect
  kMstcl,    // M→C close / kick
  kDmrd,     // both: voice/data burst
  kDmra,     // C→M talker alias fragment
  kDmrg,     // C→M GPS
  kRptg,     // C→M home position (DMRGateway)
  kRptsbkn,  // M→C beacon request
  kDmrc,     // C→M unauthenticated config (MMDVMHost → DMRGateway)
};

std::string_view HbpTypeName(HbpType t);

// Identifies the packet by its tag (the same first-4-bytes + 5th-byte rule the Python servers
// use, made exact). Does not check lengths: the per-type decoders do.
HbpType ClassifyHbp(ByteSpan pkt);

// Fixed sizes (PROTOCOL.md §1.2).
inline constexpr size_t kRptlBytes = 8;
inline constexpr size_t kRptackBytes = 10;
inline constexpr size_t kRptackBareBytes = 6;  // xlxd's bare ack; clients compare 6 bytes
inline constexpr size_t kMstnakBytes = 10;
inline constexpr size_t kRptkBytes = 40;
inline constexpr size_t kRptcBytes = 302;
inline constexpr size_t kRptoMinBytes = 8;
inline constexpr size_t kRptoMaxBytes = 8 + 300;  // longest options string we accept
inline constexpr size_t kRptpingBytes = 11;
inline constexpr size_t kMstpongBytes = 11;
inline constexpr size_t kRptclBytes = 9;
inline constexpr size_t kMstclBytes = 9;
inline constexpr size_t kDmrdBytes = 55;
inline constexpr size_t kDmrdShortBytes = 53;  // legal on ingress, never sent to HBP peers
inline constexpr size_t kDmraBytes = 15;
inline constexpr size_t kDmraGatewayBytes = 19;
inline constexpr size_t kDmrgBytes = 14;
inline constexpr size_t kDmrgGatewayBytes = 18;
inline constexpr size_t kRptgBytes = 25;
inline constexpr size_t kRptsbknBytes = 11;
inline constexpr size_t kRptsbknMinBytes = 7;  // MMDVMHost/DMRGateway compare 7 bytes only
inline constexpr size_t kDmrcBytes = 119;
inline constexpr size_t kHbpMaxBytes = kRptoMaxBytes;

// ---------------------------------------------------------------------------------------------
// DMRD: the hot path.

enum class CallType : uint8_t { kGroup = 0, kPrivate = 1 };
enum class FrameType : uint8_t { kVoice = 0, kVoiceSync = 1, kDataSync = 2 };

// DMR data types carried in the low nibble of data-sync frames.
namespace data_type {
inline constexpr uint8_t kPiHeader = 0;
inline constexpr uint8_t kVoiceLcHeader = 1;
inline constexpr uint8_t kTerminatorWithLc = 2;
inline constexpr uint8_t kCsbk = 3;
inline constexpr uint8_t kMbcHeader = 4;
inline constexpr uint8_t kMbcContinuation = 5;
inline constexpr uint8_t kDataHeader = 6;
inline constexpr uint8_t kRateHalfData = 7;
inline constexpr uint8_t kRateThreeQuarterData = 8;
inline constexpr uint8_t kIdle = 9;
inline constexpr uint8_t kRateOneData = 10;
}  // namespace data_type

// Byte 15 of a DMRD.
struct DmrdFlags {
  uint8_t raw = 0;

  // 0 = TS1, 1 = TS2.
  unsigned slot_index() const { return raw >> 7; }
  unsigned slot() const { return slot_index() + 1; }
  CallType call_type() const { return static_cast<CallType>((raw >> 6) & 1); }
  unsigned frame_type_bits() const { return (raw >> 4) & 3; }
  FrameType frame_type() const { return static_cast<FrameType>(frame_type_bits()); }
  // Voice sequence 0..5 (A..F) for voice frames, DMR data type for data-sync frames.
  unsigned low_nibble() const { return raw & 0x0F; }

  bool is_voice_header() const {
    return frame_type_bits() == 2 && low_nibble() == data_type::kVoiceLcHeader;
  }
  bool is_terminator() const {
    return frame_type_bits() == 2 && low_nibble() == data_type::kTerminatorWithLc;
  }
  // Voice bursts B..E carry embedded LC fragments (frame type voice, sequence 1..4).
  bool carries_embedded_lc() const {
    return frame_type_bits() == 0 && low_nibble() >= 1 && low_nibble() <= 4;
  }
  // HBlink/FreeDMR "vcsbk": data-sync group frame with data type 3/7/11/15.
  bool is_vcsbk() const { return call_type() == CallType::kGroup && (raw & 0x23) == 0x23; }

  static constexpr DmrdFlags Make(unsigned slot, CallType ct, FrameType ft, unsigned nibble) {
    return DmrdFlags{static_cast<uint8_t>(((slot == 2 ? 1u : 0u) << 7) |
                                          (static_cast<unsigned>(ct) << 6) |
                                          (static_cast<unsigned>(ft) << 4) | (nibble & 0x0F))};
  }
};

// Offsets of the DMRD fields (PROTOCOL.md §1.3); DMRE shares bytes 4..54.
namespace dmrd_offset {
inline constexpr size_t kSeq = 4;
inline constexpr size_t kRfSrc = 5;
inline constexpr size_t kDst = 8;
inline constexpr size_t kRepeaterId = 11;
inline constexpr size_t kFlags = 15;
inline constexpr size_t kStreamId = 16;
inline constexpr size_t kPayload = 20;
inline constexpr size_t kBer = 53;
inline constexpr size_t kRssi = 54;
}  // namespace dmrd_offset
inline constexpr size_t kDmrPayloadBytes = 33;

struct DmrdView {
  const uint8_t* data = nullptr;  // the packet, 53 or 55 bytes
  uint16_t length = 0;
  uint8_t seq = 0;
  uint32_t rf_src = 0;
  uint32_t dst = 0;
  uint32_t repeater_id = 0;
  DmrdFlags flags;
  uint32_t stream_id = 0;

  const uint8_t* payload() const { return data + dmrd_offset::kPayload; }
  bool has_ber_rssi() const { return length >= kDmrdBytes; }
  uint8_t ber() const { return has_ber_rssi() ? data[dmrd_offset::kBer] : 0; }
  uint8_t rssi() const { return has_ber_rssi() ? data[dmrd_offset::kRssi] : 0; }
};

// Fills the view from bytes 4..54 (shared by DMRD and DMRE); no checks.
void FillDmrdFields(const uint8_t* pkt, DmrdView* out);

// Accepts 53 or 55 bytes with tag "DMRD", a non-zero stream ID and a defined frame type.
Reject DecodeDmrd(ByteSpan pkt, DmrdView* out);

struct DmrdFields {
  uint8_t seq = 0;
  uint32_t rf_src = 0;
  uint32_t dst = 0;
  uint32_t repeater_id = 0;
  DmrdFlags flags;
  uint32_t stream_id = 0;
  std::array<uint8_t, kDmrPayloadBytes> payload{};
  uint8_t ber = 0;
  uint8_t rssi = 0;
};
// Always 55 bytes (PROTOCOL.md Part A §4).
size_t EncodeDmrd(const DmrdFields& f, MutableByteSpan out);

// ---------------------------------------------------------------------------------------------
// Login, keepalive and control packets.

// RPTL, MSTNAK, RPTPING, MSTPONG, RPTCL, MSTCL, RPTSBKN: a tag and a 4-byte ID.
// RPTACK: tag and 4 bytes that are a salt or an ID depending on the login stage; the bare 6-byte
// form decodes with has_value = false.
struct HbpIdPacket {
  HbpType type = HbpType::kUnknown;
  uint32_t value = 0;
  bool has_value = true;
};
Reject DecodeHbpIdPacket(ByteSpan pkt, HbpIdPacket* out);
size_t EncodeHbpIdPacket(HbpType type, uint32_t value, MutableByteSpan out);

struct Rptk {
  uint32_t id = 0;
  std::array<uint8_t, 32> digest{};
};
Reject DecodeRptk(ByteSpan pkt, Rptk* out);
size_t EncodeRptk(const Rptk& p, MutableByteSpan out);

// RPTC configuration block (PROTOCOL.md §1.4). Views into the packet, fixed widths; the decoder
// checks the length only, since every real client fills the fields and servers differ in how
// strictly they read them; interpretation (slots, frequencies) belongs to the control plane.
struct RptcConfig {
  std::string_view callsign;     // 8
  std::string_view rx_freq;      // 9
  std::string_view tx_freq;      // 9
  std::string_view tx_power;     // 2
  std::string_view color_code;   // 2
  std::string_view latitude;     // 8
  std::string_view longitude;    // 9
  std::string_view height;       // 3
  std::string_view location;     // 20
  std::string_view description;  // 19
  char slots = '3';              // 1
  std::string_view url;          // 124
  std::string_view software_id;  // 40
  std::string_view package_id;   // 40
};
struct Rptc {
  uint32_t id = 0;
  RptcConfig config;
};
Reject DecodeRptc(ByteSpan pkt, Rptc* out);
// Pads each field with spaces (numbers with leading zeros are the caller's job), truncates to its
// width.
size_t EncodeRptc(const Rptc& p, MutableByteSpan out);
// Which timeslots an RPTC slots character declares: bit 0 = TS1, bit 1 = TS2. '4' (simplex/DMO)
// is TS2 only; '0' none; anything else both.
uint8_t RptcSlotMask(char slots);

struct Rpto {
  uint32_t id = 0;
  std::string_view options;
};
Reject DecodeRpto(ByteSpan pkt, Rpto* out);
size_t EncodeRpto(const Rpto& p, MutableByteSpan out);

// Talker alias: 15 bytes (MMDVMHost direct) or 19 (DMRGateway, with repeater ID after the tag).
struct Dmra {
  bool has_repeater_id = false;
  uint32_t repeater_id = 0;
  uint32_t rf_src = 0;
  uint8_t block = 0;  // 0 header, 1..3 blocks
  std::array<uint8_t, 7> alias{};
};
Reject DecodeDmra(ByteSpan pkt, Dmra* out);
size_t EncodeDmra(const Dmra& p, MutableByteSpan out);

// GPS: 14 bytes or 18 (with repeater ID).
struct Dmrg {
  bool has_repeater_id = false;
  uint32_t repeater_id = 0;
  uint32_t rf_src = 0;
  std::array<uint8_t, 7> gps{};
};
Reject DecodeDmrg(ByteSpan pkt, Dmrg* out);
size_t EncodeDmrg(const Dmrg& p, MutableByteSpan out);

// DMRGateway home position: "%+08.4f%+09.4f" latitude/longitude.
struct Rptg {
  uint32_t id = 0;
  std::string_view latitude;   // 8
  std::string_view longitude;  // 9
};
Reject DecodeRptg(ByteSpan pkt, Rptg* out);
size_t EncodeRptg(const Rptg& p, MutableByteSpan out);

// DMRC: MMDVMHost's unauthenticated config towards DMRGateway (PROTOCOL.md §1.2). Decoded so that
// the hub can recognise and refuse it: it carries no credentials.
struct Dmrc {
  uint32_t id = 0;
  std::string_view callsign;    // 8
  std::string_view rx_freq;     // 9
  std::string_view tx_freq;     // 9
  std::string_view power;       // 2
  std::string_view color_code;  // 2
  char slots = '3';
  std::string_view version;   // 40
  std::string_view hardware;  // 40
};
Reject DecodeDmrc(ByteSpan pkt, Dmrc* out);
size_t EncodeDmrc(const Dmrc& p, MutableByteSpan out);

}  // namespace dmrswitch::proto
