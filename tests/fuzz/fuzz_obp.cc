// Fuzzes the OpenBridge/FBP codec with a fixed key ("mypass", the key of the seed corpus).
//
// 1. The raw input (exact-size heap copy) goes through ClassifyObp and every decoder; whatever
//    decodes must re-encode to the same bytes and agree with ClassifyObp.
// 2. Random bytes almost never carry a valid MAC, so the input is also signed into a valid packet
//    of each type (input bytes as the body, tag forced, MAC computed with the key) to reach the
//    code after the MAC check: the outcome must follow from the fields alone, and one byte less
//    must be refused.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "dataplane/proto/reject.h"

namespace {

using dmrswitch::proto::Bcsq;
using dmrswitch::proto::Blake2bMac128;
using dmrswitch::proto::ByteSpan;
using dmrswitch::proto::DmrdView;
using dmrswitch::proto::DmreTrailer;
using dmrswitch::proto::DmreView;
using dmrswitch::proto::HmacSha1;
using dmrswitch::proto::MutableByteSpan;
using dmrswitch::proto::ObpType;
using dmrswitch::proto::Reject;
namespace proto = dmrswitch::proto;
namespace dmre_offset = dmrswitch::proto::dmre_offset;

constexpr size_t kOutBytes = 128;  // larger than any OBP packet

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckReason(Reject r) { Check(static_cast<size_t>(r) < static_cast<size_t>(Reject::kCount)); }

void CheckSame(ByteSpan in, const uint8_t* out, size_t n) {
  Check(n == in.size() && std::memcmp(out, in.data(), n) == 0);
}

const HmacSha1& Hmac() {
  static const HmacSha1 key(proto::ObpKeyFromPassphrase("mypass"));
  return key;
}
const Blake2bMac128& Blake() {
  static const Blake2bMac128 key(proto::ObpKeyFromPassphrase("mypass"));
  return key;
}

// An exact-size heap buffer.
struct Buffer {
  explicit Buffer(size_t n) : size(n), data(new uint8_t[n]) {}
  ByteSpan span() const { return {data.get(), size}; }
  ByteSpan first(size_t n) const { return {data.get(), n}; }
  size_t size;
  std::unique_ptr<uint8_t[]> data;
};

// Reject expected from the DMRD field checks that follow a good MAC.
Reject DmrdFieldVerdict(const uint8_t* p) {
  if (proto::LoadBe32(p + proto::dmrd_offset::kStreamId) == 0) return Reject::kZeroStreamId;
  if (((p[proto::dmrd_offset::kFlags] >> 4) & 3) == 3) return Reject::kBadFrameType;
  return Reject::kOk;
}

// ---------------------------------------------------------------------------------------------
// Raw input.

int RawObpV1(ByteSpan in, ObpType cls) {
  DmrdView v;
  const Reject r = proto::DecodeObpV1(in, Hmac(), &v);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kDmrd && v.length == proto::kDmrdShortBytes && v.data == in.data());
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeObpV1(in.data(), Hmac(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

int RawDmre(ByteSpan in, ObpType cls) {
  DmreView v;
  const Reject r = proto::DecodeDmre(in, Blake(), &v);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kDmre && v.version >= 4 && v.dmrd.data == in.data());
  DmreTrailer t;
  t.version = v.version;
  t.timestamp_ns = v.timestamp_ns;
  t.origin_server = v.origin_server;
  t.origin_repeater = v.origin_repeater;
  t.hops = v.hops;
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeDmre(in.data(), t, Blake(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

int RawBcka(ByteSpan in, ObpType cls) {
  const Reject r = proto::DecodeBcka(in, Hmac());
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kBcka);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeBcka(Hmac(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

int RawBcsq(ByteSpan in, ObpType cls) {
  Bcsq q;
  const Reject r = proto::DecodeBcsq(in, Hmac(), &q);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kBcsq && q.tg <= 0xFFFFFF);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeBcsq(q, Hmac(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

int RawBcve(ByteSpan in, ObpType cls) {
  uint8_t version = 0;
  const Reject r = proto::DecodeBcve(in, Hmac(), &version);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kBcve);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeBcve(version, Hmac(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

int RawBcst(ByteSpan in, ObpType cls) {
  const Reject r = proto::DecodeBcst(in, Hmac());
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == ObpType::kBcst);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeBcst(Hmac(), MutableByteSpan(out, sizeof(out))));
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Signed from the input.

// Copies input bytes [4, 4 + n) into buf[4, 4 + n), zero-filling what the input lacks.
void FillBody(const uint8_t* data, size_t size, uint8_t* buf, size_t n) {
  for (size_t i = 0; i < n; ++i) buf[4 + i] = 4 + i < size ? data[4 + i] : 0;
}

void SignedObpV1(const uint8_t* data, size_t size) {
  Buffer b(proto::kObpV1Bytes);
  std::memcpy(b.data.get(), "DMRD", 4);
  FillBody(data, size, b.data.get(), proto::kDmrdShortBytes - 4);
  proto::SignObpV1InPlace(b.data.get(), Hmac());
  DmrdView v;
  const Reject r = proto::DecodeObpV1(b.span(), Hmac(), &v);
  Check(r == DmrdFieldVerdict(b.data.get()));
  if (r == Reject::kOk) {
    Check(v.rf_src == proto::LoadBe24(b.data.get() + 5) &&
          v.dst == proto::LoadBe24(b.data.get() + 8));
    uint8_t out[kOutBytes];
    CheckSame(b.span(), out,
              proto::EncodeObpV1(b.data.get(), Hmac(), MutableByteSpan(out, sizeof(out))));
  }
  Buffer shorter(proto::kObpV1Bytes - 1);
  std::memcpy(shorter.data.get(), b.data.get(), shorter.size);
  Check(proto::DecodeObpV1(shorter.span(), Hmac(), &v) == Reject::kTruncated);
}

void SignedDmre(const uint8_t* data, size_t size) {
  // The version byte comes from the input (5 if it is too short): 0..3 must be refused, 4 picks
  // the 85-byte layout, anything above 4 the 89-byte one.
  const uint8_t version = size > dmre_offset::kVersion ? data[dmre_offset::kVersion] : 5;
  const bool v4 = version == 4;
  const size_t total = v4 ? proto::kDmreV4Bytes : proto::kDmreV5Bytes;
  const size_t mac_off = v4 ? dmre_offset::kMacV4 : dmre_offset::kMacV5;
  Buffer b(total);
  std::memcpy(b.data.get(), "DMRE", 4);
  FillBody(data, size, b.data.get(), mac_off - 4);
  b.data[dmre_offset::kVersion] = version;
  Blake().Sign(b.first(mac_off), b.data.get() + mac_off);
  DmreView v;
  const Reject r = proto::DecodeDmre(b.span(), Blake(), &v);
  if (version < 4) {
    Check(r == Reject::kUnsupportedVersion);
  } else {
    Check(r == DmrdFieldVerdict(b.data.get()));
  }
  if (r == Reject::kOk) {
    const uint8_t* p = b.data.get();
    Check(v.version == version && v.dmrd.length == proto::kDmrdBytes);
    Check(v.timestamp_ns == proto::LoadBe64(p + dmre_offset::kTimestamp));
    Check(v.origin_server == proto::LoadBe32(p + dmre_offset::kOriginServer));
    Check(v.hops == p[v4 ? dmre_offset::kHopsV4 : dmre_offset::kHopsV5]);
    Check(v.origin_repeater == (v4 ? 0 : proto::LoadBe32(p + dmre_offset::kOriginRepeaterV5)));
    DmreTrailer t;
    t.version = v.version;
    t.timestamp_ns = v.timestamp_ns;
    t.origin_server = v.origin_server;
    t.origin_repeater = v.origin_repeater;
    t.hops = v.hops;
    uint8_t out[kOutBytes];
    CheckSame(b.span(), out, proto::EncodeDmre(p, t, Blake(), MutableByteSpan(out, sizeof(out))));
  }
  Buffer shorter(total - 1);
  std::memcpy(shorter.data.get(), b.data.get(), shorter.size);
  Check(proto::DecodeDmre(shorter.span(), Blake(), &v) != Reject::kOk);
}

void SignedBcsq(const uint8_t* data, size_t size) {
  Buffer b(proto::kBcsqBytes);
  std::memcpy(b.data.get(), "BCSQ", 4);
  FillBody(data, size, b.data.get(), 7);
  Hmac().Sign(b.first(11), b.data.get() + 11);
  Bcsq q;
  Check(proto::DecodeBcsq(b.span(), Hmac(), &q) == Reject::kOk);
  Check(q.tg == proto::LoadBe24(b.data.get() + 4) &&
        q.stream_id == proto::LoadBe32(b.data.get() + 7));
  uint8_t out[kOutBytes];
  CheckSame(b.span(), out, proto::EncodeBcsq(q, Hmac(), MutableByteSpan(out, sizeof(out))));
}

void SignedBcve(const uint8_t* data, size_t size) {
  Buffer b(proto::kBcveBytes);
  std::memcpy(b.data.get(), "BCVE", 4);
  FillBody(data, size, b.data.get(), 1);
  Hmac().Sign(b.first(5).subspan(4), b.data.get() + 5);
  uint8_t version = 0;
  Check(proto::DecodeBcve(b.span(), Hmac(), &version) == Reject::kOk && version == b.data[4]);
  uint8_t out[kOutBytes];
  CheckSame(b.span(), out, proto::EncodeBcve(version, Hmac(), MutableByteSpan(out, sizeof(out))));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  if (size != 0) std::memcpy(buf.get(), data, size);
  const ByteSpan in(buf.get(), size);

  const ObpType cls = proto::ClassifyObp(in);
  Check((cls == ObpType::kUnknown) == (proto::ObpTypeName(cls) == "unknown"));
  int accepted = 0;
  accepted += RawObpV1(in, cls);
  accepted += RawDmre(in, cls);
  accepted += RawBcka(in, cls);
  accepted += RawBcsq(in, cls);
  accepted += RawBcve(in, cls);
  accepted += RawBcst(in, cls);
  Check(accepted <= 1);

  SignedObpV1(data, size);
  SignedDmre(data, size);
  SignedBcsq(data, size);
  SignedBcve(data, size);
  return 0;
}
