#include "web_sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace canal::http {

std::string randomToken() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a console session");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

Session WebSessions::open(const std::string& user, std::chrono::steady_clock::time_point now) {
  Session s{randomToken(), user, randomToken()};
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = live_.begin(); it != live_.end();) {
    it = (now - it->second.used > kIdle || now - it->second.opened > kLifetime) ? live_.erase(it) : std::next(it);
  }
  if (live_.size() >= kMaxSessions) {
    auto oldest = live_.begin();
    for (auto it = live_.begin(); it != live_.end(); ++it) {
      if (it->second.opened < oldest->second.opened) oldest = it;
    }
    live_.erase(oldest);
  }
  live_[s.id] = Live{s, now, now};
  return s;
}

std::optional<Session> WebSessions::find(const std::string& cookieHeader, std::chrono::steady_clock::time_point now) {
  // Cookie: a=b; canal_console=<id>; c=d
  const std::string name = cookie_ + "=";
  std::size_t at = 0;
  std::string id;
  while (at < cookieHeader.size()) {
    while (at < cookieHeader.size() && (cookieHeader[at] == ' ' || cookieHeader[at] == ';')) ++at;
    std::size_t end = cookieHeader.find(';', at);
    if (end == std::string::npos) end = cookieHeader.size();
    if (cookieHeader.compare(at, name.size(), name) == 0) id = cookieHeader.substr(at + name.size(), end - at - name.size());
    at = end;
  }
  if (id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  if (now - it->second.used > kIdle || now - it->second.opened > kLifetime) {
    live_.erase(it);
    return std::nullopt;
  }
  it->second.used = now;
  return it->second.session;
}

void WebSessions::close(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  live_.erase(id);
}

std::size_t WebSessions::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_.size();
}

std::string WebSessions::setCookie(const std::string& id) const {
  const std::string attributes = "; Path=/console/; HttpOnly; SameSite=Strict";
  if (id.empty()) return cookie_ + "=" + attributes + "; Max-Age=0";
  return cookie_ + "=" + id + attributes;
}

bool WebSessions::tokenMatches(const Session& session, const std::string& given) {
  return given.size() == session.csrfToken.size() &&
         CRYPTO_memcmp(given.data(), session.csrfToken.data(), given.size()) == 0;
}

}  // namespace canal::http
