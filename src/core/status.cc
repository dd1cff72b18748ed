#include "core/status.h"

namespace hygie {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid-argument";
    case Code::kNotFound:
      return "not-found";
    case Code::kGone:
      return "gone";
    case Code::kAlreadyExists:
      return "already-exists";
    case Code::kConflict:
      return "conflict";
    case Code::kFailedPrecondition:
      return "failed-precondition";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kPermissionDenied:
      return "permission-denied";
    case Code::kResourceExhausted:
      return "resource-exhausted";
    case Code::kDataLoss:
      return "data-loss";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

}  // namespace hygie
