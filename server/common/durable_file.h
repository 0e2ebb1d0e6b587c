#pragma once

// Files written so that a crash leaves either the old or the new content, never a mix.

#include <string>

#include "server/common/status.h"

namespace canal {

// Writes all of `data` to the open descriptor `fd` and fsyncs it; `path` names it in errors.
Status writeAllAndSync(int fd, const std::string& data, const std::string& path);

// Replaces `path` with `data`: written to `path`.tmp, fsynced, renamed over `path`, and the
// directory fsynced so the rename itself survives a crash.
Status replaceFileDurably(const std::string& path, const std::string& data);

}  // namespace canal
