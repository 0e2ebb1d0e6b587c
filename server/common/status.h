#pragma once

// Status and Result<T>: errors as values across module boundaries.
//
// A Status is OK or carries a code, a message and, for Corruption and I/O errors, where the
// problem was found ("mysql-bin.000003:1234", "conf/example/instance.properties:12",
// "client 10.0.0.9:54321"). Thread contract: values; safe to copy between threads.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace canal {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad configuration or caller input
  kNotFound,
  kCorruption,       // bytes that cannot be what they claim to be (binlog, packets, files)
  kIoError,
  kTimeout,
  kUnavailable,      // a peer or service cannot be reached; retrying may help
  kAborted,          // stopped on request
  kNotSupported,
  kInternal,
  kPositionRefused,  // the primary refused a binlog position: purged, missing, not an event boundary (1236)
};

std::string_view statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status ok() { return Status(); }
  static Status invalidArgument(std::string message, std::string where = {}) {
    return Status(StatusCode::kInvalidArgument, std::move(message), std::move(where));
  }
  static Status notFound(std::string message, std::string where = {}) {
    return Status(StatusCode::kNotFound, std::move(message), std::move(where));
  }
  // `where` is mandatory for corruption: the file:offset, or the peer, whose bytes were bad.
  static Status corruption(std::string where, std::string message) {
    return Status(StatusCode::kCorruption, std::move(message), std::move(where));
  }
  static Status ioError(std::string message, std::string where = {}) {
    return Status(StatusCode::kIoError, std::move(message), std::move(where));
  }
  static Status positionRefused(std::string message, std::string where = {}) {
    return Status(StatusCode::kPositionRefused, std::move(message), std::move(where));
  }
  static Status timeout(std::string message) { return Status(StatusCode::kTimeout, std::move(message), {}); }
  static Status unavailable(std::string message, std::string where = {}) {
    return Status(StatusCode::kUnavailable, std::move(message), std::move(where));
  }
  static Status aborted(std::string message) { return Status(StatusCode::kAborted, std::move(message), {}); }
  static Status notSupported(std::string message) {
    return Status(StatusCode::kNotSupported, std::move(message), {});
  }
  static Status internal(std::string message) { return Status(StatusCode::kInternal, std::move(message), {}); }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  bool isCorruption() const { return code_ == StatusCode::kCorruption; }
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }

  // Same code and place, message prefixed with `context` ("reading TABLE_MAP: ...").
  Status withContext(std::string_view context) const;
  // Same code and message, with `where` set if it was empty.
  Status at(std::string where) const;

  // "OK", or "<Code>: <where>: <message>" (where omitted when empty).
  std::string toString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.where_ == b.where_;
  }

 private:
  Status(StatusCode code, std::string message, std::string where)
      : code_(code), message_(std::move(message)), where_(std::move(where)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string where_;
};

// A value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(state_).isOk() && "Result built from an OK status has no value");
    if (std::get<1>(state_).isOk()) state_.template emplace<1>(Status::internal("Result without value"));
  }

  bool isOk() const { return state_.index() == 0; }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<1>(state_);
  }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace canal

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define CANAL_RETURN_IF_ERROR(expr)             \
  do {                                          \
    ::canal::Status canal_status_ = (expr);     \
    if (!canal_status_.isOk()) return canal_status_; \
  } while (0)
