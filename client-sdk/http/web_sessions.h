#pragma once

// The logins of a page (canal-server's console, canal-forwarder's admin page): a random session id kept in an HttpOnly, SameSite=Strict cookie, and a
// second random token that every state-changing request must repeat in its X-CSRF-Token header
// (a page of another site can make the browser send the cookie, never read the token). A
// session ends 30 minutes after its last use, 12 hours after its login, or at logout; at most
// 256 live at once (a new login ends the oldest).
// Thread contract: thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace canal::http {

struct Session {
  std::string id;
  std::string user;
  std::string csrfToken;
};

class WebSessions {
 public:
  // `cookie`: the cookie's name, set for the path /console/.
  explicit WebSessions(std::string cookie) : cookie_(std::move(cookie)) {}

  static constexpr std::size_t kMaxSessions = 256;
  static constexpr std::chrono::minutes kIdle{30};
  static constexpr std::chrono::hours kLifetime{12};

  Session open(const std::string& user, std::chrono::steady_clock::time_point now);
  // The session a Cookie header names, when it is live (its last use is then `now`).
  std::optional<Session> find(const std::string& cookieHeader, std::chrono::steady_clock::time_point now);
  void close(const std::string& id);
  std::size_t size() const;

  // The Set-Cookie value for `id` (empty: one that ends the session in the browser).
  std::string setCookie(const std::string& id) const;
  // Whether `given` is the session's token, compared in constant time.
  static bool tokenMatches(const Session& session, const std::string& given);

 private:
  struct Live {
    Session session;
    std::chrono::steady_clock::time_point opened;
    std::chrono::steady_clock::time_point used;
  };
  const std::string cookie_;
  mutable std::mutex mutex_;
  std::map<std::string, Live> live_;
};

// A random token of 32 hex digits.
std::string randomToken();

}  // namespace canal::http
