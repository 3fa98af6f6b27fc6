#include "core/jsonl.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

// An open descriptor holding the file's advisory lock, closed (and unlocked) at scope end.
class LockedFile {
 public:
  LockedFile(const fs::path& file, int flags) : file_(file) {
    fd_ = open(file.c_str(), flags | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot open");
    while (flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) fail("cannot lock");
  }
  ~LockedFile() {
    if (fd_ >= 0) close(fd_);
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  int fd() const { return fd_; }
  [[noreturn]] void fail(const char* what) const {
    throw Error(std::string(what) + " result file '" + file_.string() +
                "': " + std::strerror(errno));
  }

 private:
  fs::path file_;
  int fd_ = -1;
};

// Where the torn last line starts (the size after the last newline), or -1 when the file ends
// with a newline or is empty. Reads backwards in blocks.
off_t torn_start(int fd) {
  const off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return -1;
  char last = '\n';
  if (pread(fd, &last, 1, size - 1) != 1 || last == '\n') return -1;
  char buf[4096];
  for (off_t end = size; end > 0;) {
    const off_t from =
        end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    const ssize_t n = pread(fd, buf, static_cast<size_t>(end - from), from);
    if (n <= 0) return -1;
    for (ssize_t i = n - 1; i >= 0; --i)
      if (buf[i] == '\n') return from + i + 1;
    end = from;
  }
  return 0;
}

int line_number_at(const fs::path& file, off_t offset) {
  std::ifstream in(file, std::ios::binary);
  int lines = 1;
  char c;
  for (off_t i = 0; i < offset && in.get(c); ++i) lines += c == '\n';
  return lines;
}

// A last line without its newline that is whole JSON (a file edited by hand) only lacks the
// newline; anything else was cut short.
bool whole_json(int fd, off_t start) {
  const off_t size = lseek(fd, 0, SEEK_END);
  std::string tail(static_cast<size_t>(size - start), '\0');
  return pread(fd, tail.data(), tail.size(), start) == static_cast<ssize_t>(tail.size()) &&
         nlohmann::json::accept(tail);
}

int cut_locked(const fs::path& file, const LockedFile& f) {
  const off_t start = torn_start(f.fd());
  if (start < 0) return 0;
  if (whole_json(f.fd(), start)) {
    if (pwrite(f.fd(), "\n", 1, lseek(f.fd(), 0, SEEK_END)) != 1) f.fail("cannot write");
    return 0;
  }
  const int number = line_number_at(file, start);
  if (ftruncate(f.fd(), start) != 0) f.fail("cannot cut the torn last line of");
  std::fprintf(stderr,
               "warning: result file '%s': line %d was cut short (a crash or a kill while it "
               "was written) and is removed\n",
               file.c_str(), number);
  return number;
}

}  // namespace

void append_line(const fs::path& file, const std::string& line) {
  const LockedFile f(file, O_RDWR | O_APPEND | O_CREAT);  // read: a torn tail is looked for
  cut_locked(file, f);
  const std::string text = line + "\n";
  // O_APPEND: each write lands at the end; a short write (a full disk) is completed or fails.
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(f.fd(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) f.fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (fsync(f.fd()) != 0) f.fail("cannot sync");
}

JsonLines read_json_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("result file '" + file.string() + "' cannot be read");
  JsonLines out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (in.eof() && !nlohmann::json::accept(line)) {  // no newline after it, not whole: torn
      out.torn_line = n;
      out.warning = "warning: '" + file.string() + "' line " + std::to_string(n) +
                    " was cut short (a crash or a kill while it was written) and is left out";
      break;
    }
    out.lines.push_back(std::move(line));
  }
  return out;
}

bool first_line_has_schema(const fs::path& file, const std::string& prefix) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      // A "schema" of another type is another kind of file, not an error.
      return j.is_object() && j.contains("schema") && j["schema"].is_string() &&
             j["schema"].get<std::string>().rfind(prefix, 0) == 0;
    }
  return false;
}

int cut_torn_line(const fs::path& file) {
  if (!fs::exists(file)) return 0;
  const LockedFile f(file, O_RDWR);
  return cut_locked(file, f);
}

}  // namespace infermark
