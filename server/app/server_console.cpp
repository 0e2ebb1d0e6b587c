#include "server/app/server_console.h"

#include <chrono>
#include <filesystem>
#include <fstream>

namespace canal::app {

namespace fs = std::filesystem;

void ServerConsole::runPending() {
  std::deque<std::packaged_task<Status()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(pending_);
  }
  for (auto& task : tasks) task();
}

Status ServerConsole::onServerThread(std::function<Status()> change) {
  std::packaged_task<Status()> task(std::move(change));
  auto done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(task));
  }
  // A destination's stop waits for its stream and clients; a minute is far beyond that.
  if (done.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    return Status::unavailable("the server has not applied the change within a minute; it may still do so");
  }
  try {
    return done.get();
  } catch (const std::future_error&) {
    return Status::unavailable("the server stopped before applying the change");
  }
}

std::string ServerConsole::login(const std::string& authorization) {
  const AdminLogin admin = logins_.get();
  return adminAuthorized(authorization, admin) ? admin.user : std::string();
}

std::string ServerConsole::loginUnavailable() {
  if (!logins_.get().passwordHash.empty()) return {};
  return "the console logs in as canal.admin.user; set canal.admin.passwd in canal.properties first";
}

Status ServerConsole::destinationAction(const std::string& name, const std::string& action) {
  return onServerThread([this, name, action] {
    if (action == "stop") return destinations_.stop(name);
    if (action == "start") return destinations_.start(name);
    CANAL_RETURN_IF_ERROR(destinations_.stop(name));
    return destinations_.start(name);
  });
}

http::Response ServerConsole::snapshots(const std::string& method, const std::string& name, const std::string& body) {
  const HttpResponse answer = answerSnapshotRequest(method, name, body, destinations_);
  http::Response r;
  r.status = answer.status;
  r.contentType = answer.contentType;
  r.body = answer.body;
  return r;
}

Result<std::string> ServerConsole::instanceFile(const std::string& name) {
  if (!fs::is_regular_file(context_.confDir / name / "instance.properties")) {
    return Status::notFound("destination " + name + " has no instance.properties in " + context_.confDir.string());
  }
  return readInstanceFile(context_, name);
}

Status ServerConsole::checkInstanceFile(const std::string& name, const std::string& text, std::vector<std::string>* warnings) {
  Warnings found;
  auto config = loadDestination(context_, name, text, &found);
  for (auto& w : found) warnings->push_back(std::move(w));
  return config.status();
}

Status ServerConsole::writeAndScan(const std::string& name, const std::string& text) {
  const fs::path dir = context_.confDir / name;
  const fs::path file = dir / "instance.properties";
  const fs::path temporary = dir / ".instance.properties.console";
  std::error_code ec;
  fs::create_directories(dir, ec);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Status::ioError("cannot write", temporary.string());
  }
  fs::rename(temporary, file, ec);
  if (ec) return Status::ioError("cannot replace: " + ec.message(), file.string());
  for (const ScanChange& change : destinations_.scan()) {
    if (change.destination == name && change.failed) return Status::unavailable(change.line);
  }
  return Status::ok();
}

Status ServerConsole::saveInstanceFile(const std::string& name, const std::string& text) {
  return onServerThread([this, name, text] {
    CANAL_RETURN_IF_ERROR(instanceFile(name).status());
    std::vector<std::string> warnings;
    CANAL_RETURN_IF_ERROR(checkInstanceFile(name, text, &warnings));
    return writeAndScan(name, text);
  });
}

Status ServerConsole::addDestination(const std::string& name, const std::string& text) {
  return onServerThread([this, name, text] {
    if (fs::exists(context_.confDir / name / "instance.properties")) {
      return Status::invalidArgument("destination " + name + " exists already");
    }
    if (!context_.server.autoScan) {
      auto configured = destinationNames(context_.server);
      if (configured && std::find(configured->begin(), configured->end(), name) == configured->end()) {
        return Status::invalidArgument("canal.auto.scan is false and canal.destinations does not name " + name +
                                       ": add it there first");
      }
    }
    std::vector<std::string> warnings;
    CANAL_RETURN_IF_ERROR(checkInstanceFile(name, text, &warnings));
    CANAL_RETURN_IF_ERROR(writeAndScan(name, text));
    for (const auto& v : destinations_.views()) {
      if (v.name == name) return Status::ok();
    }
    return Status::unavailable("destination " + name + " was written but did not start; see the server's log");
  });
}

}  // namespace canal::app
