#pragma once

// The boundary between the program and one framework. Each framework is a shared library
// (backends/<name>/), loaded only when asked for with its own dependencies, so that a
// missing or conflicting framework library never stops the program or another backend.
// A plugin defines exactly one entry point with INFERMARK_BACKEND_PLUGIN.

#include <string>

#include "core/backend.h"
#include "core/error.h"

namespace infermark {

// Reading settings that validate_settings has checked and normalized (bools are "true" or
// "false", ints are decimal, every key of the specs is present).
inline const std::string& setting(const Settings& s, const std::string& key) {
  auto it = s.find(key);
  if (it == s.end()) throw Error("setting '" + key + "' missing (not validated?)");
  return it->second;
}
inline bool setting_bool(const Settings& s, const std::string& key) {
  return setting(s, key) == "true";
}
inline int64_t setting_int(const Settings& s, const std::string& key) {
  return std::stoll(setting(s, key));
}

}  // namespace infermark

// Bumped whenever core/backend.h changes shape; the loader refuses other versions.
#define INFERMARK_PLUGIN_ABI 2

extern "C" {
typedef int (*infermark_plugin_abi_fn)();
typedef infermark::Backend* (*infermark_create_backend_fn)();
}

#define INFERMARK_BACKEND_PLUGIN(BackendClass)                                            \
  extern "C" __attribute__((visibility("default"))) int infermark_plugin_abi() {          \
    return INFERMARK_PLUGIN_ABI;                                                        \
  }                                                                                     \
  extern "C" __attribute__((visibility("default"))) infermark::Backend*                  \
  infermark_create_backend() {                                                          \
    return new BackendClass();                                                          \
  }
