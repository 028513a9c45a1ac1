#include "dataplane/proto/hbp.h"

#include <algorithm>
#include <cstring>

namespace dmrswitch::proto {
namespace {

struct TagInfo {
  HbpType type;
  std::string_view tag;
};

// Full tags; ClassifyHbp picks the candidate by prefix, decoders check the whole tag.
constexpr TagInfo kTags[] = {
    {HbpType::kRptl, "RPTL"},       {HbpType::kRptack, "RPTACK"},   {HbpType::kMstnak, "MSTNAK"},
    {HbpType::kRptk, "RPTK"},       {HbpType::kRptc, "RPTC"},       {HbpType::kRpto, "RPTO"},
    {HbpType::kRptping, "RPTPING"}, {HbpType::kMstpong, "MSTPONG"}, {HbpType::kRptcl, "RPTCL"},
    {HbpType::kMstcl, "MSTCL"},     {HbpType::kDmrd, "DMRD"},       {HbpType::kDmra, "DMRA"},
    {HbpType::kDmrg, "DMRG"},       {HbpType::kRptg, "RPTG"},       {HbpType::kRptsbkn, "RPTSBKN"},
    {HbpType::kDmrc, "DMRC"},
};

std::string_view TagOf(HbpType t) {
  for (const auto& info : kTags) {
    if (info.type == t) return info.tag;
  }
  return {};
}

bool HasTag(ByteSpan pkt, std::string_view tag) {
  return pkt.size() >= tag.size() && std::memcmp(pkt.data(), tag.data(), tag.size()) == 0;
}

std::string_view FieldAt(ByteSpan pkt, size_t off, size_t len) {
  return {reinterpret_cast<const char*>(pkt.data() + off), len};
}

// Copies `s` into a fixed-width field, truncating or padding with `pad`.
void PutField(uint8_t* dst, size_t width, std::string_view s, char pad = ' ') {
  const size_t n = std::min(width, s.size());
  if (n != 0) std::memcpy(dst, s.data(), n);  // an empty view may have a null data()
  std::memset(dst + n, pad, width - n);
}

size_t PutTag(HbpType t, MutableByteSpan out, size_t total) {
  const std::string_view tag = TagOf(t);
  if (out.size() < total || tag.size() > total) return 0;
  std::memcpy(out.data(), tag.data(), tag.size());
  return tag.size();
}

// Checks a fixed-size packet's length and full tag.
Reject CheckFixed(ByteSpan pkt, HbpType t, size_t size) {
  if (pkt.size() < size) return Reject::kTruncated;
  if (pkt.size() > size) return Reject::kOversized;
  if (!HasTag(pkt, TagOf(t))) return Reject::kBadMagic;
  return Reject::kOk;
}

}  // namespace

std::string_view HbpTypeName(HbpType t) {
  const std::string_view tag = TagOf(t);
  return tag.empty() ? std::string_view("unknown") : tag;
}

HbpType ClassifyHbp(ByteSpan pkt) {
  if (pkt.size() < 4) return HbpType::kUnknown;
  const uint8_t* p = pkt.data();
  auto is = [p](const char* four) { return std::memcmp(p, four, 4) == 0; };
  if (is("DMRD")) return HbpType::kDmrd;
  if (is("RPTP")) return HbpType::kRptping;
  if (is("RPTL")) return HbpType::kRptl;
  if (is("RPTK")) return HbpType::kRptk;
  if (is("RPTC")) {
    // "RPTCL" (9 bytes) vs "RPTC" + 4-byte ID: the 5th byte decides; an ID byte can be 'L'
    // (0x4C) only in an RPTC, which is 302 bytes long.
    return (pkt.size() >= 5 && p[4] == 'L' && pkt.size() < kRptcBytes) ? HbpType::kRptcl
                                                                       : HbpType::kRptc;
  }
  if (is("RPTO")) return HbpType::kRpto;
  if (is("RPTA")) return HbpType::kRptack;
  if (is("RPTG")) return HbpType::kRptg;
  if (is("RPTS")) return HbpType::kRptsbkn;
  if (is("MSTN")) return HbpType::kMstnak;
  if (is("MSTP")) return HbpType::kMstpong;
  if (is("MSTC")) return HbpType::kMstcl;
  if (is("DMRA")) return HbpType::kDmra;
  if (is("DMRG")) return HbpType::kDmrg;
  if (is("DMRC")) return HbpType::kDmrc;
  return HbpType::kUnknown;
}

// ---------------------------------------------------------------------------------------------

void FillDmrdFields(const uint8_t* pkt, DmrdView* out) {
  out->seq = pkt[dmrd_offset::kSeq];
  out->rf_src = LoadBe24(pkt + dmrd_offset::kRfSrc);
  out->dst = LoadBe24(pkt + dmrd_offset::kDst);
  out->repeater_id = LoadBe32(pkt + dmrd_offset::kRepeaterId);
  out->flags = DmrdFlags{pkt[dmrd_offset::kFlags]};
  out->stream_id = LoadBe32(pkt + dmrd_offset::kStreamId);
}

Reject DecodeDmrd(ByteSpan pkt, DmrdView* out) {
  const size_t n = pkt.size();
  if (n != kDmrdBytes && n != kDmrdShortBytes) {
    if (n < kDmrdShortBytes) return Reject::kTruncated;
    return n > kDmrdBytes ? Reject::kOversized : Reject::kBadLength;
  }
  const uint8_t* p = pkt.data();
  if (std::memcmp(p, "DMRD", 4) != 0) return Reject::kBadMagic;
  out->data = p;
  out->length = static_cast<uint16_t>(n);
  FillDmrdFields(p, out);
  if (out->stream_id == 0) return Reject::kZeroStreamId;
  if (out->flags.frame_type_bits() == 3) return Reject::kBadFrameType;
  return Reject::kOk;
}

size_t EncodeDmrd(const DmrdFields& f, MutableByteSpan out) {
  if (PutTag(HbpType::kDmrd, out, kDmrdBytes) == 0) return 0;
  uint8_t* p = out.data();
  p[dmrd_offset::kSeq] = f.seq;
  StoreBe24(p + dmrd_offset::kRfSrc, f.rf_src);
  StoreBe24(p + dmrd_offset::kDst, f.dst);
  StoreBe32(p + dmrd_offset::kRepeaterId, f.repeater_id);
  p[dmrd_offset::kFlags] = f.flags.raw;
  StoreBe32(p + dmrd_offset::kStreamId, f.stream_id);
  std::memcpy(p + dmrd_offset::kPayload, f.payload.data(), kDmrPayloadBytes);
  p[dmrd_offset::kBer] = f.ber;
  p[dmrd_offset::kRssi] = f.rssi;
  return kDmrdBytes;
}

// ---------------------------------------------------------------------------------------------

namespace {

// Size of the ID-only packets; 0 for types that are not ID-only.
size_t IdPacketBytes(HbpType t) {
  switch (t) {
    case HbpType::kRptl:
      return kRptlBytes;
    case HbpType::kRptack:
      return kRptackBytes;
    case HbpType::kMstnak:
      return kMstnakBytes;
    case HbpType::kRptping:
      return kRptpingBytes;
    case HbpType::kMstpong:
      return kMstpongBytes;
    case HbpType::kRptcl:
      return kRptclBytes;
    case HbpType::kMstcl:
      return kMstclBytes;
    case HbpType::kRptsbkn:
      return kRptsbknBytes;
    default:
      return 0;
  }
}

}  // namespace

Reject DecodeHbpIdPacket(ByteSpan pkt, HbpIdPacket* out) {
  const HbpType t = ClassifyHbp(pkt);
  const size_t size = IdPacketBytes(t);
  if (size == 0) return t == HbpType::kUnknown ? Reject::kUnknownTag : Reject::kBadMagic;
  const std::string_view tag = TagOf(t);
  out->type = t;
  // Two shorter forms exist in the field: xlxd's bare RPTACK and a beacon request compared on
  // its first 7 bytes.
  if (t == HbpType::kRptack && pkt.size() == kRptackBareBytes) {
    if (!HasTag(pkt, tag)) return Reject::kBadMagic;
    out->value = 0;
    out->has_value = false;
    return Reject::kOk;
  }
  if (t == HbpType::kRptsbkn && pkt.size() >= kRptsbknMinBytes && pkt.size() < kRptsbknBytes) {
    if (!HasTag(pkt, tag)) return Reject::kBadMagic;
    out->value = 0;
    out->has_value = false;
    return Reject::kOk;
  }
  if (Reject r = CheckFixed(pkt, t, size); r != Reject::kOk) return r;
  out->value = LoadBe32(pkt.data() + tag.size());
  out->has_value = true;
  return Reject::kOk;
}

size_t EncodeHbpIdPacket(HbpType type, uint32_t value, MutableByteSpan out) {
  const size_t size = IdPacketBytes(type);
  if (size == 0) return 0;
  const size_t off = PutTag(type, out, size);
  if (off == 0) return 0;
  StoreBe32(out.data() + off, value);
  return size;
}

Reject DecodeRptk(ByteSpan pkt, Rptk* out) {
  if (Reject r = CheckFixed(pkt, HbpType::kRptk, kRptkBytes); r != Reject::kOk) return r;
  out->id = LoadBe32(pkt.data() + 4);
  std::memcpy(out->digest.data(), pkt.data() + 8, out->digest.size());
  return Reject::kOk;
}

size_t EncodeRptk(const Rptk& p, MutableByteSpan out) {
  if (PutTag(HbpType::kRptk, out, kRptkBytes) == 0) return 0;
  StoreBe32(out.data() + 4, p.id);
  std::memcpy(out.data() + 8, p.digest.data(), p.digest.size());
  return kRptkBytes;
}

// RPTC field layout as (offset, width), PROTOCOL.md §1.4.
namespace rptc {
inline constexpr size_t kCallsign = 8, kCallsignW = 8;
inline constexpr size_t kRx = 16, kRxW = 9;
inline constexpr size_t kTx = 25, kTxW = 9;
inline constexpr size_t kPower = 34, kPowerW = 2;
inline constexpr size_t kCc = 36, kCcW = 2;
inline constexpr size_t kLat = 38, kLatW = 8;
inline constexpr size_t kLon = 46, kLonW = 9;
inline constexpr size_t kHeight = 55, kHeightW = 3;
inline constexpr size_t kLocation = 58, kLocationW = 20;
inline constexpr size_t kDescription = 78, kDescriptionW = 19;
inline constexpr size_t kSlots = 97;
inline constexpr size_t kUrl = 98, kUrlW = 124;
inline constexpr size_t kSoftware = 222, kSoftwareW = 40;
inline constexpr size_t kPackage = 262, kPackageW = 40;
static_assert(kPackage + kPackageW == kRptcBytes);
}  // namespace rptc

Reject DecodeRptc(ByteSpan pkt, Rptc* out) {
  if (ClassifyHbp(pkt) != HbpType::kRptc) return Reject::kBadMagic;
  if (Reject r = CheckFixed(pkt, HbpType::kRptc, kRptcBytes); r != Reject::kOk) return r;
  using namespace rptc;
  out->id = LoadBe32(pkt.data() + 4);
  RptcConfig& c = out->config;
  c.callsign = FieldAt(pkt, kCallsign, kCallsignW);
  c.rx_freq = FieldAt(pkt, kRx, kRxW);
  c.tx_freq = FieldAt(pkt, kTx, kTxW);
  c.tx_power = FieldAt(pkt, kPower, kPowerW);
  c.color_code = FieldAt(pkt, kCc, kCcW);
  c.latitude = FieldAt(pkt, kLat, kLatW);
  c.longitude = FieldAt(pkt, kLon, kLonW);
  c.height = FieldAt(pkt, kHeight, kHeightW);
  c.location = FieldAt(pkt, kLocation, kLocationW);
  c.description = FieldAt(pkt, kDescription, kDescriptionW);
  c.slots = static_cast<char>(pkt[kSlots]);
  c.url = FieldAt(pkt, kUrl, kUrlW);
  c.software_id = FieldAt(pkt, kSoftware, kSoftwareW);
  c.package_id = FieldAt(pkt, kPackage, kPackageW);
  return Reject::kOk;
}

size_t EncodeRptc(const Rptc& p, MutableByteSpan out) {
  if (PutTag(HbpType::kRptc, out, kRptcBytes) == 0) return 0;
  using namespace rptc;
  uint8_t* d = out.data();
  const RptcConfig& c = p.config;
  StoreBe32(d + 4, p.id);
  PutField(d + kCallsign, kCallsignW, c.callsign);
  PutField(d + kRx, kRxW, c.rx_freq);
  PutField(d + kTx, kTxW, c.tx_freq);
  PutField(d + kPower, kPowerW, c.tx_power);
  PutField(d + kCc, kCcW, c.color_code);
  PutField(d + kLat, kLatW, c.latitude);
  PutField(d + kLon, kLonW, c.longitude);
  PutField(d + kHeight, kHeightW, c.height);
  PutField(d + kLocation, kLocationW, c.location);
  PutField(d + kDescription, kDescriptionW, c.description);
  d[kSlots] = static_cast<uint8_t>(c.slots);
  PutField(d + kUrl, kUrlW, c.url);
  PutField(d + kSoftware, kSoftwareW, c.software_id);
  PutField(d + kPackage, kPackageW, c.package_id);
  return kRptcBytes;
}

uint8_t RptcSlotMask(char slots) {
  switch (slots) {
    case '0':
      return 0;
    case '1':
      return 1;
    case '2':
    case '4':
      return 2;
    default:
      return 3;
  }
}

Reject DecodeRpto(ByteSpan pkt, Rpto* out) {
  if (pkt.size() < kRptoMinBytes) return Reject::kTruncated;
  if (pkt.size() > kRptoMaxBytes) return Reject::kOversized;
  if (!HasTag(pkt, "RPTO")) return Reject::kBadMagic;
  out->id = LoadBe32(pkt.data() + 4);
  out->options = FieldAt(pkt, 8, pkt.size() - 8);
  return Reject::kOk;
}

size_t EncodeRpto(const Rpto& p, MutableByteSpan out) {
  const size_t total = 8 + p.options.size();
  if (total > kRptoMaxBytes) return 0;
  if (PutTag(HbpType::kRpto, out, total) == 0) return 0;
  StoreBe32(out.data() + 4, p.id);
  std::memcpy(out.data() + 8, p.options.data(), p.options.size());
  return total;
}

Reject DecodeDmra(ByteSpan pkt, Dmra* out) {
  const size_t n = pkt.size();
  if (n < kDmraBytes) return Reject::kTruncated;
  if (n > kDmraGatewayBytes) return Reject::kOversized;
  if (n != kDmraBytes && n != kDmraGatewayBytes) return Reject::kBadLength;
  if (!HasTag(pkt, "DMRA")) return Reject::kBadMagic;
  const uint8_t* p = pkt.data() + 4;
  out->has_repeater_id = n == kDmraGatewayBytes;
  out->repeater_id = 0;
  if (out->has_repeater_id) {
    out->repeater_id = LoadBe32(p);
    p += 4;
  }
  out->rf_src = LoadBe24(p);
  out->block = p[3];
  std::memcpy(out->alias.data(), p + 4, out->alias.size());
  return Reject::kOk;
}

size_t EncodeDmra(const Dmra& a, MutableByteSpan out) {
  const size_t total = a.has_repeater_id ? kDmraGatewayBytes : kDmraBytes;
  if (PutTag(HbpType::kDmra, out, total) == 0) return 0;
  uint8_t* p = out.data() + 4;
  if (a.has_repeater_id) {
    StoreBe32(p, a.repeater_id);
    p += 4;
  }
  StoreBe24(p, a.rf_src);
  p[3] = a.block;
  std::memcpy(p + 4, a.alias.data(), a.alias.size());
  return total;
}

Reject DecodeDmrg(ByteSpan pkt, Dmrg* out) {
  const size_t n = pkt.size();
  if (n < kDmrgBytes) return Reject::kTruncated;
  if (n > kDmrgGatewayBytes) return Reject::kOversized;
  if (n != kDmrgBytes && n != kDmrgGatewayBytes) return Reject::kBadLength;
  if (!HasTag(pkt, "DMRG")) return Reject::kBadMagic;
  const uint8_t* p = pkt.data() + 4;
  out->has_repeater_id = n == kDmrgGatewayBytes;
  out->repeater_id = 0;
  if (out->has_repeater_id) {
    out->repeater_id = LoadBe32(p);
    p += 4;
  }
  out->rf_src = LoadBe24(p);
  std::memcpy(out->gps.data(), p + 3, out->gps.size());
  return Reject::kOk;
}

size_t EncodeDmrg(const Dmrg& g, MutableByteSpan out) {
  const size_t total = g.has_repeater_id ? kDmrgGatewayBytes : kDmrgBytes;
  if (PutTag(HbpType::kDmrg, out, total) == 0) return 0;
  uint8_t* p = out.data() + 4;
  if (g.has_repeater_id) {
    StoreBe32(p, g.repeater_id);
    p += 4;
  }
  StoreBe24(p, g.rf_src);
  std::memcpy(p + 3, g.gps.data(), g.gps.size());
  return total;
}

Reject DecodeRptg(ByteSpan pkt, Rptg* out) {
  if (ClassifyHbp(pkt) != HbpType::kRptg) return Reject::kBadMagic;
  if (Reject r = CheckFixed(pkt, HbpType::kRptg, kRptgBytes); r != Reject::kOk) return r;
  out->id = LoadBe32(pkt.data() + 4);
  out->latitude = FieldAt(pkt, 8, 8);
  out->longitude = FieldAt(pkt, 16, 9);
  return Reject::kOk;
}

size_t EncodeRptg(const Rptg& g, MutableByteSpan out) {
  if (PutTag(HbpType::kRptg, out, kRptgBytes) == 0) return 0;
  StoreBe32(out.data() + 4, g.id);
  PutField(out.data() + 8, 8, g.latitude);
  PutField(out.data() + 16, 9, g.longitude);
  return kRptgBytes;
}

Reject DecodeDmrc(ByteSpan pkt, Dmrc* out) {
  if (Reject r = CheckFixed(pkt, HbpType::kDmrc, kDmrcBytes); r != Reject::kOk) return r;
  out->id = LoadBe32(pkt.data() + 4);
  out->callsign = FieldAt(pkt, 8, 8);
  out->rx_freq = FieldAt(pkt, 16, 9);
  out->tx_freq = FieldAt(pkt, 25, 9);
  out->power = FieldAt(pkt, 34, 2);
  out->color_code = FieldAt(pkt, 36, 2);
  out->slots = static_cast<char>(pkt[38]);
  out->version = FieldAt(pkt, 39, 40);
  out->hardware = FieldAt(pkt, 79, 40);
  return Reject::kOk;
}

size_t EncodeDmrc(const Dmrc& c, MutableByteSpan out) {
  if (PutTag(HbpType::kDmrc, out, kDmrcBytes) == 0) return 0;
  uint8_t* d = out.data();
  StoreBe32(d + 4, c.id);
  PutField(d + 8, 8, c.callsign);
  PutField(d + 16, 9, c.rx_freq);
  PutField(d + 25, 9, c.tx_freq);
  PutField(d + 34, 2, c.power);
  PutField(d + 36, 2, c.color_code);
  d[38] = static_cast<uint8_t>(c.slots);
  PutField(d + 39, 40, c.version);
  PutField(d + 79, 40, c.hardware);
  return kDmrcBytes;
}

}  // namespace dmrswitch::proto
