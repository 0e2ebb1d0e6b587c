#pragma once

// Secrets in a .properties text shown as a mask and put back on save: a key whose name holds
// "password", "passwd", "secret", "accesskey" or "jaas" (canal.instance.dbPassword,
// canal.aliyun.secretKey, ...) is a secret. Comments, order and every other byte stay as they are.

#include <string>

#include "server/common/status.h"

namespace canal::console {

inline constexpr const char* kSecretMask = "******";

bool isSecretKey(const std::string& key);
// `text` with every secret's non-empty value replaced by kSecretMask.
std::string maskSecrets(const std::string& text);
// `edited` with every secret whose value is still kSecretMask given its value in `saved` again;
// InvalidArgument naming the key when `saved` has no value for it.
Result<std::string> unmaskSecrets(const std::string& edited, const std::string& saved);

}  // namespace canal::console
