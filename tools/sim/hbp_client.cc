#include "tools/sim/hbp_client.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_format.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::sim {
namespace {

using proto::HbpType;

constexpr int kMaxDrainPerRound = 4096;

const char* StatePacket(HbpClientState s) {
  switch (s) {
    case HbpClientState::kWaitingLogin:
      return "RPTL";
    case HbpClientState::kWaitingAuthorisation:
      return "RPTK";
    case HbpClientState::kWaitingConfig:
      return "RPTC";
    case HbpClientState::kWaitingOptions:
      return "RPTO";
    default:
      return "-";
  }
}

std::string NakReason(HbpClientState s) {
  switch (s) {
    case HbpClientState::kWaitingLogin:
      return "MSTNAK after RPTL: login refused (ID unknown or not allowed, or hub full)";
    case HbpClientState::kWaitingAuthorisation:
      return "MSTNAK after RPTK: bad passphrase";
    case HbpClientState::kWaitingConfig:
      return "MSTNAK after RPTC: configuration refused";
    case HbpClientState::kWaitingOptions:
      return "MSTNAK after RPTO: options refused";
    default:
      return "MSTNAK";
  }
}

bool IsLoginState(HbpClientState s) {
  return s == HbpClientState::kWaitingLogin || s == HbpClientState::kWaitingAuthorisation ||
         s == HbpClientState::kWaitingConfig || s == HbpClientState::kWaitingOptions;
}

}  // namespace

std::string_view HbpClientStateName(HbpClientState s) {
  switch (s) {
    case HbpClientState::kDisconnected:
      return "DISCONNECTED";
    case HbpClientState::kWaitingLogin:
      return "WAITING_LOGIN";
    case HbpClientState::kWaitingAuthorisation:
      return "WAITING_AUTHORISATION";
    case HbpClientState::kWaitingConfig:
      return "WAITING_CONFIG";
    case HbpClientState::kWaitingOptions:
      return "WAITING_OPTIONS";
    case HbpClientState::kRunning:
      return "RUNNING";
    case HbpClientState::kClosed:
      return "CLOSED";
  }
  return "?";
}

HbpClient::HbpClient(HbpClientOptions options) : options_(std::move(options)) {
  absl::StatusOr<UdpSocket> s = UdpSocket::Open(options_.local, options_.hub);
  if (s.ok()) {
    socket_ = *std::move(s);
  } else {
    status_ = s.status();
  }
}

HbpClient::~HbpClient() {
  if (state_ == HbpClientState::kRunning) SendIdPacket(HbpType::kRptcl);
}

// ---------------------------------------------------------------------------------------------
// Login and state machine.

void HbpClient::StartLogin() {
  if (!socket_.is_open()) return;
  login_requested_ = true;
  if (IsLoginState(state_) || state_ == HbpClientState::kRunning) return;
  ++counters_.login_attempts;
  SendIdPacket(HbpType::kRptl);
  EnterState(HbpClientState::kWaitingLogin, absl::Now());
}

absl::Status HbpClient::Login(absl::Duration timeout) {
  if (!socket_.is_open()) {
    return status_.ok() ? absl::FailedPreconditionError("socket closed") : status_;
  }
  if (running()) return absl::OkStatus();
  status_ = absl::OkStatus();
  icmp_seen_ = false;
  StartLogin();
  Pollable* self[] = {this};
  PollUntil(
      self, [this] { return running() || !status_.ok(); }, timeout);
  if (running()) return absl::OkStatus();
  if (!status_.ok()) return status_;
  return absl::DeadlineExceededError(absl::StrFormat(
      "login of %u to %s: no answer within %s in state %s (last sent %s, %u resends)%s",
      options_.id, options_.hub.ToString(), absl::FormatDuration(timeout),
      HbpClientStateName(state_), StatePacket(state_), counters_.resends,
      icmp_seen_ ? "; hub port unreachable (ICMP)" : ""));
}

bool HbpClient::Close(absl::Duration wait) {
  if (!socket_.is_open()) return false;
  const uint64_t naks = counters_.naks;
  if (state_ != HbpClientState::kDisconnected && state_ != HbpClientState::kClosed) {
    SendIdPacket(HbpType::kRptcl);
  }
  login_requested_ = false;
  EnterState(HbpClientState::kClosed, absl::Now());
  if (wait <= absl::ZeroDuration()) return false;
  Pollable* self[] = {this};
  return PollUntil(
      self, [&] { return counters_.naks > naks; }, wait);
}

void HbpClient::Abandon() {
  login_requested_ = false;
  EnterState(HbpClientState::kClosed, absl::Now());
  socket_.Close();
}

absl::Status HbpClient::SendOptions(std::string options) {
  options_.options = std::move(options);
  if (!running()) return absl::FailedPreconditionError("not logged in; options kept for login");
  SendRpto();
  return absl::OkStatus();
}

void HbpClient::EnterState(HbpClientState s, absl::Time now) {
  state_ = s;
  switch (s) {
    case HbpClientState::kDisconnected:
    case HbpClientState::kClosed:
      retry_at_ = absl::InfiniteFuture();
      timeout_at_ = absl::InfiniteFuture();
      break;
    case HbpClientState::kRunning:
      ++counters_.logins;
      status_ = absl::OkStatus();
      retry_at_ = now + options_.ping_interval;
      timeout_at_ = now + options_.timeout;
      break;
    default:
      retry_at_ = now + options_.retry_interval;
      timeout_at_ = now + options_.timeout;
      break;
  }
}

void HbpClient::Reconnect(absl::Time now, absl::Duration delay) {
  EnterState(HbpClientState::kDisconnected, now);
  if (options_.auto_reconnect && login_requested_) retry_at_ = now + delay;
}

void HbpClient::SendStatePacket() {
  switch (state_) {
    case HbpClientState::kWaitingLogin:
      SendIdPacket(HbpType::kRptl);
      break;
    case HbpClientState::kWaitingAuthorisation:
      SendRptk();
      break;
    case HbpClientState::kWaitingConfig:
      SendRptc();
      break;
    case HbpClientState::kWaitingOptions:
      SendRpto();
      break;
    default:
      break;
  }
}

void HbpClient::SendIdPacket(HbpType type) {
  std::array<uint8_t, 16> buf;
  const size_t n = proto::EncodeHbpIdPacket(type, options_.id, buf);
  Transmit({buf.data(), n});
}

void HbpClient::SendRptk() {
  proto::Rptk p;
  p.id = options_.id;
  p.digest = proto::HbpLoginDigest(salt_, options_.passphrase);
  std::array<uint8_t, proto::kRptkBytes> buf;
  Transmit({buf.data(), proto::EncodeRptk(p, buf)});
}

void HbpClient::SendRptc() {
  proto::Rptc p;
  p.id = options_.id;
  proto::RptcConfig& c = p.config;
  c.callsign = options_.callsign;
  c.rx_freq = options_.rx_freq;
  c.tx_freq = options_.tx_freq;
  c.tx_power = options_.tx_power;
  c.color_code = options_.color_code;
  c.latitude = options_.latitude;
  c.longitude = options_.longitude;
  c.height = options_.height;
  c.location = options_.location;
  c.description = options_.description;
  c.slots = options_.slots;
  c.url = options_.url;
  c.software_id = options_.software_id;
  c.package_id = options_.package_id;
  std::array<uint8_t, proto::kRptcBytes> buf;
  Transmit({buf.data(), proto::EncodeRptc(p, buf)});
}

void HbpClient::SendRpto() {
  std::array<uint8_t, proto::kRptoMaxBytes> buf;
  Transmit({buf.data(), proto::EncodeRpto({options_.id, options_.options}, buf)});
}

void HbpClient::Transmit(std::span<const uint8_t> bytes) {
  if (!socket_.is_open() || bytes.empty()) return;
  if (!socket_.Send(bytes).ok()) ++counters_.tx_errors;
}

absl::Status HbpClient::SendRaw(std::span<const uint8_t> bytes) {
  if (!socket_.is_open()) return absl::FailedPreconditionError("socket closed");
  return socket_.Send(bytes);
}

// ---------------------------------------------------------------------------------------------
// Polling.

absl::Time HbpClient::NextDeadline() const {
  return std::min({retry_at_, timeout_at_, sender_.NextDeadline()});
}

void HbpClient::OnReadable(absl::Time /*now*/) {
  std::array<uint8_t, 2048> buf;
  for (int i = 0; i < kMaxDrainPerRound && socket_.is_open(); ++i) {
    absl::StatusOr<std::optional<Datagram>> d = socket_.Receive(buf);
    if (!d.ok()) {
      ++counters_.icmp_errors;
      icmp_seen_ = true;
      continue;
    }
    if (!d->has_value()) break;
    Handle({buf.data(), (*d)->length}, (*d)->arrival);
  }
}

void HbpClient::OnTimers(absl::Time now) {
  sender_.Run(now, [this](const DmrdFrame& f) {
    // Counted as sent only once the kernel took it: a frame that never left is no frame a
    // receiver can be expected to hear (a load test that counted it would report a loss the hub
    // never saw).
    if (!socket_.is_open()) return;
    if (absl::Status st = socket_.Send(f); st.ok()) {
      ++counters_.dmrd_tx;
    } else {
      ++counters_.dmrd_tx_errors;
      ++counters_.tx_errors;
      last_tx_error_ = std::string(st.message());
    }
  });
  if ((IsLoginState(state_) || state_ == HbpClientState::kRunning) && now >= timeout_at_) {
    ++counters_.timeouts;
    status_ = absl::DeadlineExceededError(
        absl::StrFormat("no RPTACK/MSTPONG from %s for %s in state %s", options_.hub.ToString(),
                        absl::FormatDuration(options_.timeout), HbpClientStateName(state_)));
    Reconnect(now, options_.reconnect_delay);
  }
  if (now < retry_at_) return;
  switch (state_) {
    case HbpClientState::kDisconnected:
      if (options_.auto_reconnect && login_requested_) {
        ++counters_.login_attempts;
        SendIdPacket(HbpType::kRptl);
        EnterState(HbpClientState::kWaitingLogin, now);
      } else {
        retry_at_ = absl::InfiniteFuture();
      }
      break;
    case HbpClientState::kRunning:
      ++counters_.pings_sent;
      SendIdPacket(HbpType::kRptping);
      retry_at_ = now + options_.ping_interval;
      break;
    case HbpClientState::kClosed:
      retry_at_ = absl::InfiniteFuture();
      break;
    default:
      ++counters_.resends;
      SendStatePacket();
      retry_at_ = now + options_.retry_interval;
      break;
  }
}

void HbpClient::Handle(std::span<const uint8_t> pkt, absl::Time arrival) {
  const HbpType type = proto::ClassifyHbp(pkt);
  if (type == HbpType::kDmrd) {
    proto::DmrdView v;
    if (proto::DecodeDmrd(pkt, &v) != proto::Reject::kOk) {
      ++counters_.rx_unknown;
      return;
    }
    if (!running()) {
      ++counters_.dmrd_ignored;
      return;
    }
    ++counters_.dmrd_rx;
    counters_.dmrd_rx_bytes += pkt.size();
    if (!options_.collect_frames && !on_frame_) return;
    const ReceivedFrame f = MakeReceivedFrame(pkt.data(), pkt.size(), arrival);
    if (on_frame_) on_frame_(f);
    if (options_.collect_frames) collector_.Add(f);
    return;
  }
  proto::HbpIdPacket p;
  if (proto::DecodeHbpIdPacket(pkt, &p) != proto::Reject::kOk) {
    ++counters_.rx_unknown;
    return;
  }
  const absl::Time now = arrival;
  switch (type) {
    case HbpType::kRptack:
      ++counters_.acks;
      switch (state_) {
        case HbpClientState::kWaitingLogin:
          if (!p.has_value) {
            ++counters_.rx_unknown;  // a bare ack carries no salt
            return;
          }
          salt_ = p.value;
          SendRptk();
          EnterState(HbpClientState::kWaitingAuthorisation, now);
          break;
        case HbpClientState::kWaitingAuthorisation:
          SendRptc();
          EnterState(HbpClientState::kWaitingConfig, now);
          break;
        case HbpClientState::kWaitingConfig:
          if (options_.options.empty()) {
            EnterState(HbpClientState::kRunning, now);
          } else {
            SendRpto();
            EnterState(HbpClientState::kWaitingOptions, now);
          }
          break;
        case HbpClientState::kWaitingOptions:
          EnterState(HbpClientState::kRunning, now);
          break;
        case HbpClientState::kRunning:
          timeout_at_ = now + options_.timeout;  // e.g. the ack of SendOptions
          break;
        default:
          break;
      }
      break;
    case HbpType::kMstnak:
      ++counters_.naks;
      if (state_ == HbpClientState::kRunning) {
        status_ = absl::UnavailableError("MSTNAK while running: the hub does not know us");
        Reconnect(now, options_.reconnect_delay);
      } else if (IsLoginState(state_)) {
        status_ = absl::PermissionDeniedError(NakReason(state_));
        Reconnect(now, options_.retry_interval);
      }
      break;
    case HbpType::kMstcl:
      ++counters_.mstcl;
      if (IsLoginState(state_) || state_ == HbpClientState::kRunning) {
        status_ = absl::UnavailableError("MSTCL: closed by the hub");
        Reconnect(now, options_.reconnect_delay);
      }
      break;
    case HbpType::kMstpong:
      ++counters_.pongs;
      last_pong_ = arrival;
      if (state_ == HbpClientState::kRunning) timeout_at_ = now + options_.timeout;
      break;
    case HbpType::kRptsbkn:
      ++counters_.beacons;
      break;
    default:
      ++counters_.rx_unknown;
      break;
  }
}

}  // namespace dmrswitch::sim
