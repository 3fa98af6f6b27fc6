#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/cache_dir.h"

namespace infermark {

// FNV-1a, 64 bits: stable across machines and runs, for keys and file fingerprints (not
// for security). `h` continues a running hash.
inline uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

inline std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A file's fingerprint for cache keys: FNV-1a of its contents and its size ("" when it cannot
// be read), so that a model replaced by another of the same size and time (cp -p, rsync -t,
// an archive) never reuses an entry of its old contents, and the same contents at another
// path find it. Reading a large file at every load would cost the load time measured: the
// fingerprint is remembered in the cache folder under the file's identity (device, inode,
// size, modification and change times; the change time cannot be set back by a user), and
// read again only when one of them moved.
inline std::string file_stamp(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "";
  const std::string identity =
      std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
      std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
      std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
      std::to_string(st.st_ctim.tv_nsec);
  const fs::path memo = cache_root() / "fingerprints" / hex64(fnv1a(identity));
  if (std::ifstream in{memo}; in) {
    std::string known, line;
    std::getline(in, known);
    std::getline(in, line);
    if (known == identity && !line.empty()) return line;
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  uint64_t h = 0xcbf29ce484222325ULL;
  std::string buf(1 << 20, '\0');
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
    h = fnv1a(std::string_view(buf.data(), static_cast<size_t>(in.gcount())), h);
  const std::string stamp = "fnv1a64:" + hex64(h) + ":" + std::to_string(st.st_size);
  // Written whole or not at all (a temporary file renamed); a failure only costs a reread.
  std::error_code ec;
  fs::create_directories(memo.parent_path(), ec);
  const fs::path tmp = memo.string() + ".tmp" + std::to_string(::getpid());
  if (std::ofstream(tmp) << identity << "\n" << stamp << "\n") fs::rename(tmp, memo, ec);
  fs::remove(tmp, ec);
  return stamp;
}

}  // namespace infermark
