#pragma once

// The outcome of a connector call: ok, an error the Canal server replied with (its code — 400,
// 401, 402 — and its text), or a local error (negative code: network, timeout, malformed reply).

#include <optional>
#include <string>
#include <utility>

namespace canal::client {

class Status {
 public:
  // Local error codes; server error codes are the positive ones of the Ack packet.
  static constexpr int kNetwork = -1;          // connect failed, connection lost
  static constexpr int kTimeout = -2;          // no reply within the socket timeout
  static constexpr int kProtocol = -3;         // a reply that is not what the protocol says
  static constexpr int kInvalidArgument = -4;  // a bad argument or address
  static constexpr int kNotConnected = -5;     // the call needs connect() first
  static constexpr int kOutOfSequence = -6;    // a batch that cannot follow the ones before it

  Status() = default;
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool isOk() const { return code_ == 0; }
  explicit operator bool() const { return isOk(); }
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  // True for an error reply of the server (the connection is still usable).
  bool isServerError() const { return code_ > 0; }
  std::string toString() const {
    return isOk() ? "OK" : "error " + std::to_string(code_) + ": " + message_;
  }

 private:
  int code_ = 0;
  std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool isOk() const { return value_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace canal::client
