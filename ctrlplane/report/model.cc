#include "ctrlplane/report/model.h"

namespace dmrswitch::cp::report {

std::string_view CallTypeName(CallType type) {
  switch (type) {
    case CallType::kGroupVoice:
      return "group_voice";
    case CallType::kPrivateVoice:
      return "private_voice";
    case CallType::kGroupData:
      return "group_data";
    case CallType::kUnitData:
      return "unit_data";
  }
  return "unknown";
}

std::string_view CallEndReasonName(CallEndReason reason) {
  switch (reason) {
    case CallEndReason::kNone:
      return "live";
    case CallEndReason::kTerminator:
      return "terminator";
    case CallEndReason::kTimeout:
      return "timeout";
    case CallEndReason::kMaxAge:
      return "max_age";
    case CallEndReason::kDrain:
      return "drain";
    case CallEndReason::kSuperseded:
      return "superseded";
    case CallEndReason::kLost:
      return "lost";
  }
  return "unknown";
}

std::string_view ClientEventKindName(ClientEvent::Kind kind) {
  switch (kind) {
    case ClientEvent::Kind::kLogin:
      return "login";
    case ClientEvent::Kind::kLogout:
      return "logout";
    case ClientEvent::Kind::kLost:
      return "lost";
  }
  return "unknown";
}

}  // namespace dmrswitch::cp::report
