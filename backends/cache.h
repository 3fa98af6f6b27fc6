#pragma once

// What every plugin that keeps compiled artefacts needs for its cache: where the cache
// lives, the user's "~" in a cache_dir setting, the key's hash and the CPU in the key.

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "core/hash.h"

namespace infermark {

// The value of a cache_dir setting that disables the cache.
inline constexpr const char* kCacheOff = "off";

// $XDG_CACHE_HOME/infermark/<backend>, else ~/.cache/infermark/<backend>, else "off"
// (nowhere sensible to write).
inline std::string default_cache_dir(const std::string& backend) {
  namespace fs = std::filesystem;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return (fs::path(xdg) / "infermark" / backend).string();
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return (fs::path(home) / ".cache" / "infermark" / backend).string();
  return kCacheOff;
}

inline std::filesystem::path expand_user(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home && *home) return std::filesystem::path(home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return std::filesystem::path(p);
}

// Cache file names from their keys (FNV-1a, not security relevant).
inline std::string hash_hex(const std::string& text) { return hex64(fnv1a(text)); }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The CPU's identity (model name and a hash of its flags), part of every cache key: compiled
// code and layout-specific graphs are only valid on the same kind of CPU, and a cache folder
// shared between machines never mixes their entries.
inline std::string cpu_identity() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, flags;
  while (std::getline(in, line) && (model.empty() || flags.empty())) {
    if (model.empty() && line.rfind("model name", 0) == 0) model = line;
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = line;
  }
  return model + "|" + hash_hex(flags);
}

// Whether /proc/cpuinfo's flags name `flag` (this machine's CPU features, as the kernel sees
// them: a virtual machine may hide some of the model's).
inline bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w)
      if (w == flag) return true;
    return false;
  }
  return false;
}

// Whether the CPU computes bf16 itself (AVX512_BF16 or AMX): where a framework's bf16 is a
// compiler's or a library's choice of kernels, the backends offer it only here, so that bf16
// never runs as a slower emulation unannounced.
inline bool cpu_has_bf16() { return cpu_has_flag("avx512_bf16") || cpu_has_flag("amx_bf16"); }

// One entry of a plugin's compiled-model cache: <cache_dir>/<prefix><hash of key><suffix>,
// the prefix "<model stem>-<8 hex of the model's path and configuration>-", so that a model
// rewritten in place finds its own older entries (remove_stale_entries) and the cache keeps
// one entry per model and configuration.
struct CacheEntry {
  std::string state = kCacheOff;  // settings_in_effect's cache: off, hit, miss, or error
  std::string note;               // why it is off or in error
  std::filesystem::path path;     // empty when off or in error
  std::string prefix;
};

// Looks up the entry of `key` under a cache_dir setting, creating the folder; `complete(path)`
// says whether an entry found there is whole (a hit).
template <class Complete>
CacheEntry find_cache_entry(const std::string& cache_dir_setting,
                            const std::filesystem::path& abs_model,
                            const std::string& configuration, const std::string& key,
                            const std::string& suffix, Complete&& complete) {
  CacheEntry c;
  c.prefix = abs_model.stem().string() + "-" +
             hash_hex(configuration.empty() ? abs_model.string()
                                            : abs_model.string() + "\n" + configuration)
                 .substr(0, 8) +
             "-";
  if (cache_dir_setting.empty() || cache_dir_setting == kCacheOff) {
    c.note = "disabled by cache_dir";
    return c;
  }
  const std::filesystem::path dir = expand_user(cache_dir_setting);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    c.state = "error";
    c.note = "cannot create " + dir.string() + ": " + ec.message();
    return c;
  }
  c.path = dir / (c.prefix + hash_hex(key) + suffix);
  c.state = complete(c.path) ? "hit" : "miss";
  return c;
}

// Removes the older entries of one model and configuration beside `keep` (the model file has
// changed since): the files or folders named <prefix><16 hex digits of a key><suffix>.
inline void remove_stale_entries(const std::filesystem::path& keep, const std::string& prefix,
                                 const std::string& suffix = "") {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(keep.parent_path(), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::filesystem::path& p = it->path();
    const std::string name = p.filename().string();
    if (p != keep && name.size() == prefix.size() + 16 + suffix.size() &&
        name.rfind(prefix, 0) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(p, ignored);
    }
  }
}

}  // namespace infermark
