#include "dataplane/proto/obp.h"

#include <cstring>

namespace dmrswitch::proto {
namespace {

bool HasTag(ByteSpan pkt, const char* tag4) {
  return pkt.size() >= 4 && std::memcmp(pkt.data(), tag4, 4) == 0;
}

Reject CheckFixed(ByteSpan pkt, const char* tag4, size_t size) {
  if (pkt.size() < size) return Reject::kTruncated;
  if (pkt.size() > size) return Reject::kOversized;
  if (!HasTag(pkt, tag4)) return Reject::kBadMagic;
  return Reject::kOk;
}

ByteSpan Tag(const char* tag4) { return {reinterpret_cast<const uint8_t*>(tag4), 4}; }

}  // namespace

std::string_view ObpTypeName(ObpType t) {
  switch (t) {
    case ObpType::kDmrd:
      return "DMRD";
    case ObpType::kDmre:
      return "DMRE";
    case ObpType::kBcka:
      return "BCKA";
    case ObpType::kBcsq:
      return "BCSQ";
    case ObpType::kBcve:
      return "BCVE";
    case ObpType::kBcst:
      return "BCST";
    case ObpType::kUnknown:
      break;
  }
  return "unknown";
}

ObpType ClassifyObp(ByteSpan pkt) {
  if (HasTag(pkt, "DMRD")) return ObpType::kDmrd;
  if (HasTag(pkt, "DMRE")) return ObpType::kDmre;
  if (HasTag(pkt, "BCKA")) return ObpType::kBcka;
  if (HasTag(pkt, "BCSQ")) return ObpType::kBcsq;
  if (HasTag(pkt, "BCVE")) return ObpType::kBcve;
  if (HasTag(pkt, "BCST")) return ObpType::kBcst;
  return ObpType::kUnknown;
}

// ---------------------------------------------------------------------------------------------

Reject DecodeObpV1(ByteSpan pkt, const HmacSha1& key, DmrdView* out) {
  if (Reject r = CheckFixed(pkt, "DMRD", kObpV1Bytes); r != Reject::kOk) return r;
  const uint8_t* p = pkt.data();
  if (!key.Verify(pkt.first(kDmrdShortBytes), p + kDmrdShortBytes)) return Reject::kBadMac;
  out->data = p;
  out->length = kDmrdShortBytes;
  FillDmrdFields(p, out);
  if (out->stream_id == 0) return Reject::kZeroStreamId;
  if (out->flags.frame_type_bits() == 3) return Reject::kBadFrameType;
  return Reject::kOk;
}

void SignObpV1InPlace(uint8_t* pkt, const HmacSha1& key) {
  key.Sign(ByteSpan(pkt, kDmrdShortBytes), pkt + kDmrdShortBytes);
}

size_t EncodeObpV1(const uint8_t* dmrd, const HmacSha1& key, MutableByteSpan out) {
  if (out.size() < kObpV1Bytes) return 0;
  std::memmove(out.data(), dmrd, kDmrdShortBytes);
  SignObpV1InPlace(out.data(), key);
  return kObpV1Bytes;
}

// ---------------------------------------------------------------------------------------------

Reject DecodeDmre(ByteSpan pkt, const Blake2bMac128& key, DmreView* out) {
  const size_t n = pkt.size();
  if (n <= dmre_offset::kVersion) return Reject::kTruncated;
  if (!HasTag(pkt, "DMRE")) return Reject::kBadMagic;
  const uint8_t* p = pkt.data();
  const uint8_t version = p[dmre_offset::kVersion];
  size_t size;
  size_t mac_off;
  if (version > 4) {
    size = kDmreV5Bytes;
    mac_off = dmre_offset::kMacV5;
  } else if (version == 4) {
    size = kDmreV4Bytes;
    mac_off = dmre_offset::kMacV4;
  } else {
    return Reject::kUnsupportedVersion;
  }
  if (n < size) return Reject::kTruncated;
  if (n > size) return Reject::kOversized;
  if (!key.Verify(pkt.first(mac_off), p + mac_off)) return Reject::kBadMac;

  out->dmrd.data = p;
  out->dmrd.length = kDmrdBytes;
  FillDmrdFields(p, &out->dmrd);
  out->version = version;
  out->timestamp_ns = LoadBe64(p + dmre_offset::kTimestamp);
  out->origin_server = LoadBe32(p + dmre_offset::kOriginServer);
  if (version > 4) {
    out->origin_repeater = LoadBe32(p + dmre_offset::kOriginRepeaterV5);
    out->hops = p[dmre_offset::kHopsV5];
  } else {
    out->origin_repeater = 0;
    out->hops = p[dmre_offset::kHopsV4];
  }
  if (out->dmrd.stream_id == 0) return Reject::kZeroStreamId;
  if (out->dmrd.flags.frame_type_bits() == 3) return Reject::kBadFrameType;
  return Reject::kOk;
}

size_t EncodeDmre(const uint8_t* dmrd, const DmreTrailer& t, const Blake2bMac128& key,
                  MutableByteSpan out) {
  const bool v5 = t.version > 4;
  const size_t size = v5 ? kDmreV5Bytes : kDmreV4Bytes;
  const size_t mac_off = v5 ? dmre_offset::kMacV5 : dmre_offset::kMacV4;
  if (out.size() < size || t.version < 4) return 0;
  uint8_t* p = out.data();
  // Bytes 4..54 are the DMRD's; the fanout builds DMRE in place (dmrd == p).
  if (p != dmrd) std::memmove(p + 4, dmrd + 4, kDmrdBytes - 4);
  std::memcpy(p, "DMRE", 4);
  p[dmre_offset::kVersion] = t.version;
  StoreBe64(p + dmre_offset::kTimestamp, t.timestamp_ns);
  StoreBe32(p + dmre_offset::kOriginServer, t.origin_server);
  if (v5) {
    StoreBe32(p + dmre_offset::kOriginRepeaterV5, t.origin_repeater);
    p[dmre_offset::kHopsV5] = t.hops;
  } else {
    p[dmre_offset::kHopsV4] = t.hops;
  }
  key.Sign(ByteSpan(p, mac_off), p + mac_off);
  return size;
}

// ---------------------------------------------------------------------------------------------

Reject DecodeBcka(ByteSpan pkt, const HmacSha1& key) {
  if (Reject r = CheckFixed(pkt, "BCKA", kBckaBytes); r != Reject::kOk) return r;
  return key.Verify(Tag("BCKA"), pkt.data() + 4) ? Reject::kOk : Reject::kBadMac;
}

size_t EncodeBcka(const HmacSha1& key, MutableByteSpan out) {
  if (out.size() < kBckaBytes) return 0;
  std::memcpy(out.data(), "BCKA", 4);
  key.Sign(Tag("BCKA"), out.data() + 4);
  return kBckaBytes;
}

Reject DecodeBcsq(ByteSpan pkt, const HmacSha1& key, Bcsq* out) {
  if (Reject r = CheckFixed(pkt, "BCSQ", kBcsqBytes); r != Reject::kOk) return r;
  if (!key.Verify(pkt.first(11), pkt.data() + 11)) return Reject::kBadMac;
  out->tg = LoadBe24(pkt.data() + 4);
  out->stream_id = LoadBe32(pkt.data() + 7);
  return Reject::kOk;
}

size_t EncodeBcsq(const Bcsq& q, const HmacSha1& key, MutableByteSpan out) {
  if (out.size() < kBcsqBytes) return 0;
  uint8_t* p = out.data();
  std::memcpy(p, "BCSQ", 4);
  StoreBe24(p + 4, q.tg);
  StoreBe32(p + 7, q.stream_id);
  key.Sign(ByteSpan(p, 11), p + 11);
  return kBcsqBytes;
}

Reject DecodeBcve(ByteSpan pkt, const HmacSha1& key, uint8_t* version) {
  if (Reject r = CheckFixed(pkt, "BCVE", kBcveBytes); r != Reject::kOk) return r;
  // The MAC covers the version byte only (PROTOCOL.md §2.3).
  if (!key.Verify(pkt.subspan(4, 1), pkt.data() + 5)) return Reject::kBadMac;
  *version = pkt[4];
  return Reject::kOk;
}

size_t EncodeBcve(uint8_t version, const HmacSha1& key, MutableByteSpan out) {
  if (out.size() < kBcveBytes) return 0;
  uint8_t* p = out.data();
  std::memcpy(p, "BCVE", 4);
  p[4] = version;
  key.Sign(ByteSpan(p + 4, 1), p + 5);
  return kBcveBytes;
}

Reject DecodeBcst(ByteSpan pkt, const HmacSha1& key) {
  if (Reject r = CheckFixed(pkt, "BCST", kBcstBytes); r != Reject::kOk) return r;
  return key.Verify(Tag("BCST"), pkt.data() + 4) ? Reject::kOk : Reject::kBadMac;
}

size_t EncodeBcst(const HmacSha1& key, MutableByteSpan out) {
  if (out.size() < kBcstBytes) return 0;
  std::memcpy(out.data(), "BCST", 4);
  key.Sign(Tag("BCST"), out.data() + 4);
  return kBcstBytes;
}

}  // namespace dmrswitch::proto
