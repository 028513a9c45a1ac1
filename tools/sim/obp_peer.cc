#include "tools/sim/obp_peer.h"

#include <algorithm>
#include <array>
#include <utility>

#include "dataplane/proto/bytes.h"

namespace dmrswitch::sim {
namespace {

std::span<const uint8_t> KeyBytes(const std::array<uint8_t, proto::kObpKeyBytes>& k) {
  return {k.data(), k.size()};
}

}  // namespace

ObpPeer::ObpPeer(ObpPeerOptions options)
    : options_(std::move(options)),
      hmac_(KeyBytes(proto::ObpKeyFromPassphrase(options_.passphrase))),
      blake_(KeyBytes(proto::ObpKeyFromPassphrase(options_.passphrase))) {
  keepalives_ = options_.keepalives.value_or(options_.mode == ObpMode::kFbpV5);
  if (!keepalives_) next_bcka_ = absl::InfiniteFuture();
  absl::StatusOr<SockAddr> hub = ToSockAddr(options_.hub);
  if (!hub.ok()) {
    status_ = hub.status();
    next_bcka_ = absl::InfiniteFuture();
    return;
  }
  hub_sa_ = *hub;
  absl::StatusOr<UdpSocket> s = UdpSocket::Open(options_.local);
  if (s.ok()) {
    socket_ = *std::move(s);
  } else {
    status_ = s.status();
    next_bcka_ = absl::InfiniteFuture();
  }
}

std::vector<uint8_t> ObpPeer::Sign(const DmrdFrame& frame, absl::Time now) const {
  std::array<uint8_t, proto::kObpMaxBytes> buf;
  size_t n = 0;
  if (options_.mode == ObpMode::kObpV1) {
    n = proto::EncodeObpV1(frame.data(), hmac_, buf);
  } else {
    proto::DmreTrailer t;
    t.version = options_.version;
    t.timestamp_ns = static_cast<uint64_t>(absl::ToUnixNanos(now + options_.timestamp_offset));
    t.origin_server = options_.origin_server != 0 ? options_.origin_server : options_.network_id;
    t.origin_repeater = options_.origin_repeater;
    t.hops = options_.hops;
    n = proto::EncodeDmre(frame.data(), t, blake_, buf);
  }
  return std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
}

void ObpPeer::Transmit(std::span<const uint8_t> bytes) {
  if (!socket_.is_open() || bytes.empty()) return;
  if (!socket_.SendTo(bytes, hub_sa_).ok()) ++counters_.tx_errors;
}

absl::Status ObpPeer::SendRaw(std::span<const uint8_t> bytes) {
  if (!socket_.is_open()) return absl::FailedPreconditionError("socket closed");
  return socket_.SendTo(bytes, hub_sa_);
}

void ObpPeer::SendBcka() {
  std::array<uint8_t, proto::kBckaBytes> buf;
  Transmit({buf.data(), proto::EncodeBcka(hmac_, buf)});
  ++counters_.bcka_tx;
}

void ObpPeer::SendBcsq(uint32_t tg, uint32_t stream_id) {
  std::array<uint8_t, proto::kBcsqBytes> buf;
  Transmit({buf.data(), proto::EncodeBcsq({tg, stream_id}, hmac_, buf)});
}

void ObpPeer::SendBcve(uint8_t version) {
  std::array<uint8_t, proto::kBcveBytes> buf;
  Transmit({buf.data(), proto::EncodeBcve(version, hmac_, buf)});
}

void ObpPeer::SendBcst() {
  std::array<uint8_t, proto::kBcstBytes> buf;
  Transmit({buf.data(), proto::EncodeBcst(hmac_, buf)});
}

// ---------------------------------------------------------------------------------------------

absl::Time ObpPeer::NextDeadline() const { return std::min(next_bcka_, sender_.NextDeadline()); }

void ObpPeer::OnReadable(absl::Time /*now*/) {
  std::array<uint8_t, 2048> buf;
  for (int i = 0; i < 4096 && socket_.is_open(); ++i) {
    absl::StatusOr<std::optional<Datagram>> d = socket_.Receive(buf);
    if (!d.ok()) continue;  // ICMP: the hub is not listening (yet)
    if (!d->has_value()) break;
    Handle({buf.data(), (*d)->length}, (*d)->from_any, (*d)->arrival);
  }
}

void ObpPeer::OnTimers(absl::Time now) {
  if (now >= next_bcka_) {
    SendBcka();
    next_bcka_ = now + options_.keepalive_interval;
  }
  sender_.Run(now, [this, now](const DmrdFrame& f) {
    ++counters_.frames_tx;
    Transmit(Sign(f, now));
  });
}

void ObpPeer::Collect(const ReceivedFrame& f) {
  if (on_frame_) on_frame_(f);
  if (options_.collect_frames) collector_.Add(f);
}

void ObpPeer::Handle(std::span<const uint8_t> pkt, const sockaddr_storage& from,
                     absl::Time arrival) {
  if (!hub_sa_.SameAs(from)) {
    ++counters_.foreign_source;
    if (!options_.accept_any_source) return;
  }
  switch (proto::ClassifyObp(pkt)) {
    case proto::ObpType::kDmrd: {
      proto::DmrdView v;
      const proto::Reject r = proto::DecodeObpV1(pkt, hmac_, &v);
      if (r != proto::Reject::kOk) {
        ++(r == proto::Reject::kBadMac ? counters_.bad_mac : counters_.rx_unknown);
        return;
      }
      ++counters_.dmrd_rx;
      Collect(MakeReceivedFrame(pkt.data(), proto::kDmrdShortBytes, arrival));
      return;
    }
    case proto::ObpType::kDmre: {
      proto::DmreView v;
      const proto::Reject r = proto::DecodeDmre(pkt, blake_, &v);
      if (r != proto::Reject::kOk) {
        ++(r == proto::Reject::kBadMac ? counters_.bad_mac : counters_.rx_unknown);
        return;
      }
      ++counters_.dmre_rx;
      ReceivedFrame f = MakeReceivedFrame(pkt.data(), proto::kDmrdBytes, arrival);
      f.dmre = DmreInfo{v.version, v.timestamp_ns, v.origin_server, v.origin_repeater, v.hops};
      Collect(f);
      return;
    }
    case proto::ObpType::kBcka:
      if (proto::DecodeBcka(pkt, hmac_) != proto::Reject::kOk) {
        ++counters_.bad_mac;
        return;
      }
      ++counters_.bcka_rx;
      last_bcka_ = arrival;
      return;
    case proto::ObpType::kBcsq: {
      proto::Bcsq q;
      if (proto::DecodeBcsq(pkt, hmac_, &q) != proto::Reject::kOk) {
        ++counters_.bad_mac;
        return;
      }
      ++counters_.bcsq_rx;
      quenches_.push_back(q);
      return;
    }
    case proto::ObpType::kBcve: {
      uint8_t version = 0;
      if (proto::DecodeBcve(pkt, hmac_, &version) != proto::Reject::kOk) {
        ++counters_.bad_mac;
        return;
      }
      ++counters_.bcve_rx;
      last_bcve_version_ = version;
      return;
    }
    case proto::ObpType::kBcst:
      if (proto::DecodeBcst(pkt, hmac_) != proto::Reject::kOk) {
        ++counters_.bad_mac;
        return;
      }
      ++counters_.bcst_rx;
      return;
    default:
      ++counters_.rx_unknown;
      return;
  }
}

}  // namespace dmrswitch::sim
