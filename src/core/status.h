#pragma once
// Status and Result<T>: the error model of every Hygie call that can fail.
// A Status is either ok or carries a Code and a message meant for operators. Messages never
// contain health data or key material. Thread-compatible value types.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hygie {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // caller sent something malformed (maps to 400)
  kNotFound,            // no such thing (404)
  kGone,                // existed, now deleted (410)
  kAlreadyExists,       // create on an existing key (409)
  kConflict,            // version precondition failed (409/412)
  kFailedPrecondition,  // state does not allow the act (412)
  kUnauthenticated,     // no or bad credentials (401)
  kPermissionDenied,    // credentials fine, act not allowed (403)
  kResourceExhausted,   // a limit was hit (413/429)
  kDataLoss,            // stored bytes fail integrity checks (decryption, corruption)
  kUnavailable,         // I/O or dependency failure; retry may help (503)
  kInternal,            // a bug
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Marks a status as deliberately ignored.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(Code::kInternal, "Result built from ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hygie

#define HYGIE_CONCAT_INNER_(a, b) a##b
#define HYGIE_CONCAT_(a, b) HYGIE_CONCAT_INNER_(a, b)

#define HYGIE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::hygie::Status hygie_status_ = (expr);        \
    if (!hygie_status_.ok()) return hygie_status_; \
  } while (0)

#define HYGIE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define HYGIE_ASSIGN_OR_RETURN(lhs, expr) \
  HYGIE_ASSIGN_OR_RETURN_IMPL_(HYGIE_CONCAT_(hygie_result_, __LINE__), lhs, expr)
