// Fuzzes the HBP codec: ClassifyHbp and every decoder run on an exact-size heap copy of the input
// (ASan flags any read past the span). Whatever decodes must re-encode to the same bytes, must
// agree with ClassifyHbp, and no two decoders may accept the same input. The talker alias decoder
// runs on the bytes too.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/reject.h"
#include "dataplane/proto/talker_alias.h"

namespace {

using dmrswitch::proto::ByteSpan;
using dmrswitch::proto::Dmra;
using dmrswitch::proto::Dmrc;
using dmrswitch::proto::DmrdFields;
using dmrswitch::proto::DmrdFlags;
using dmrswitch::proto::DmrdView;
using dmrswitch::proto::Dmrg;
using dmrswitch::proto::HbpIdPacket;
using dmrswitch::proto::HbpType;
using dmrswitch::proto::MutableByteSpan;
using dmrswitch::proto::Reject;
using dmrswitch::proto::Rptc;
using dmrswitch::proto::Rptg;
using dmrswitch::proto::Rptk;
using dmrswitch::proto::Rpto;
namespace proto = dmrswitch::proto;

constexpr size_t kOutBytes = 512;  // larger than any HBP packet

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckReason(Reject r) { Check(static_cast<size_t>(r) < static_cast<size_t>(Reject::kCount)); }

// The encoder's output equals the input exactly.
void CheckSame(ByteSpan in, const uint8_t* out, size_t n) {
  Check(n == in.size() && std::memcmp(out, in.data(), n) == 0);
}

// A view decoded from `in` lies inside it.
void CheckInside(ByteSpan in, std::string_view v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  Check(p >= in.data() && p + v.size() <= in.data() + in.size());
}

int CheckIdPacket(ByteSpan in, HbpType cls) {
  HbpIdPacket p;
  const Reject r = proto::DecodeHbpIdPacket(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(p.type == cls);
  uint8_t out[kOutBytes];
  const size_t n = proto::EncodeHbpIdPacket(p.type, p.value, MutableByteSpan(out, sizeof(out)));
  Check(n > 0);
  if (p.has_value) {
    CheckSame(in, out, n);
  } else {
    // Bare RPTACK (6 bytes) or a beacon request compared on 7: the full form starts the same.
    Check(p.type == HbpType::kRptack || p.type == HbpType::kRptsbkn);
    Check(in.size() < n && std::memcmp(out, in.data(), in.size() < 7 ? in.size() : 7) == 0);
  }
  return 1;
}

int CheckDmrd(ByteSpan in, HbpType cls) {
  DmrdView v;
  const Reject r = proto::DecodeDmrd(in, &v);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kDmrd);
  Check(v.data == in.data() && v.length == in.size());
  Check(v.stream_id != 0 && v.flags.frame_type_bits() != 3);
  const DmrdFlags f = v.flags;
  Check(DmrdFlags::Make(f.slot(), f.call_type(), f.frame_type(), f.low_nibble()).raw == f.raw);
  Check(!f.carries_embedded_lc() || f.frame_type_bits() == 0);
  Check(!(f.is_voice_header() && f.is_terminator()));
  DmrdFields fields;
  fields.seq = v.seq;
  fields.rf_src = v.rf_src;
  fields.dst = v.dst;
  fields.repeater_id = v.repeater_id;
  fields.flags = v.flags;
  fields.stream_id = v.stream_id;
  std::memcpy(fields.payload.data(), v.payload(), fields.payload.size());
  fields.ber = v.ber();
  fields.rssi = v.rssi();
  uint8_t out[kOutBytes];
  const size_t n = proto::EncodeDmrd(fields, MutableByteSpan(out, sizeof(out)));
  Check(n == proto::kDmrdBytes);
  if (in.size() == proto::kDmrdBytes) {
    CheckSame(in, out, n);
  } else {
    Check(std::memcmp(out, in.data(), proto::kDmrdShortBytes) == 0 && out[53] == 0 && out[54] == 0);
  }
  return 1;
}

int CheckRptk(ByteSpan in, HbpType cls) {
  Rptk p;
  const Reject r = proto::DecodeRptk(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kRptk);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeRptk(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckRptc(ByteSpan in, HbpType cls) {
  Rptc p;
  const Reject r = proto::DecodeRptc(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kRptc);
  const proto::RptcConfig& c = p.config;
  for (std::string_view v :
       {c.callsign, c.rx_freq, c.tx_freq, c.tx_power, c.color_code, c.latitude, c.longitude,
        c.height, c.location, c.description, c.url, c.software_id, c.package_id}) {
    CheckInside(in, v);
  }
  Check(proto::RptcSlotMask(c.slots) <= 3);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeRptc(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckRpto(ByteSpan in, HbpType cls) {
  Rpto p;
  const Reject r = proto::DecodeRpto(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kRpto);
  CheckInside(in, p.options);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeRpto(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckDmra(ByteSpan in, HbpType cls) {
  Dmra p;
  const Reject r = proto::DecodeDmra(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kDmra);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeDmra(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckDmrg(ByteSpan in, HbpType cls) {
  Dmrg p;
  const Reject r = proto::DecodeDmrg(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kDmrg);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeDmrg(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckRptg(ByteSpan in, HbpType cls) {
  Rptg p;
  const Reject r = proto::DecodeRptg(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kRptg);
  CheckInside(in, p.latitude);
  CheckInside(in, p.longitude);
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeRptg(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

int CheckDmrc(ByteSpan in, HbpType cls) {
  Dmrc p;
  const Reject r = proto::DecodeDmrc(in, &p);
  CheckReason(r);
  if (r != Reject::kOk) return 0;
  Check(cls == HbpType::kDmrc);
  for (std::string_view v :
       {p.callsign, p.rx_freq, p.tx_freq, p.power, p.color_code, p.version, p.hardware}) {
    CheckInside(in, v);
  }
  uint8_t out[kOutBytes];
  CheckSame(in, out, proto::EncodeDmrc(p, MutableByteSpan(out, sizeof(out))));
  return 1;
}

// Well-formed UTF-8 without control characters.
void CheckPrintableUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    if (c < 0x80) {
      Check(c >= 0x20 && c != 0x7F);
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
    } else {
      Check((c & 0xF8) == 0xF0);
      n = 3;
    }
    for (size_t k = 1; k <= n; ++k) {
      Check(i + k < s.size() && (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80);
    }
    i += n + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  // Exact-size heap copy: nothing after the packet is addressable.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  if (size != 0) std::memcpy(buf.get(), data, size);
  const ByteSpan in(buf.get(), size);

  const HbpType cls = proto::ClassifyHbp(in);
  const std::string_view name = proto::HbpTypeName(cls);
  Check(!name.empty());
  Check((cls == HbpType::kUnknown) == (name == "unknown"));

  // Any 28 bytes as the four talker alias blocks (what DMRA fragments fill in), any subset of
  // them received: the text is printable UTF-8 or nothing.
  if (size >= 29) {
    std::array<uint8_t, 28> blocks;
    std::memcpy(blocks.data(), data + 1, blocks.size());
    if (std::optional<std::string> alias = proto::dmr::DecodeTalkerAlias(blocks, data[0] & 0x0F)) {
      Check(!alias->empty() && alias->size() <= 31 * 4);
      CheckPrintableUtf8(*alias);
    }
  }

  int accepted = 0;
  accepted += CheckIdPacket(in, cls);
  accepted += CheckDmrd(in, cls);
  accepted += CheckRptk(in, cls);
  accepted += CheckRptc(in, cls);
  accepted += CheckRpto(in, cls);
  accepted += CheckDmra(in, cls);
  accepted += CheckDmrg(in, cls);
  accepted += CheckRptg(in, cls);
  accepted += CheckDmrc(in, cls);
  Check(accepted <= 1);
  if (accepted == 1) Check(cls != HbpType::kUnknown);

  return 0;
}
