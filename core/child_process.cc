#include "core/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/text.h"

namespace infermark {
namespace {

// What the sweep reads of one process in /proc/[pid]/stat.
struct ProcStat {
  pid_t pgrp = 0;
  int64_t rss_bytes = 0;  // the same count as statm's resident pages
};

std::optional<ProcStat> read_stat(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];  // the line is a few hundred bytes; the command name is at most 16
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // "pid (comm) state ppid pgrp ... rss ...": comm may hold spaces and parentheses, so
  // count fields from the last ')'. pgrp is field 5, rss (pages) field 24.
  const char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
  ProcStat s;
  for (int field = 3; field <= 24; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return std::nullopt;
    ++p;
    if (field == 5) s.pgrp = static_cast<pid_t>(std::strtol(p, nullptr, 10));
    if (field == 24) s.rss_bytes = std::strtoll(p, nullptr, 10) * sysconf(_SC_PAGESIZE);
  }
  return s;
}

// The processes of process group `pgid`: the cell and whatever it started (a framework's
// compiler or converter) unless that left the group (setsid, setpgid).
std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> members;
  DIR* proc = opendir("/proc");
  if (!proc) return members;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const auto s = read_stat(static_cast<pid_t>(pid));
    if (s && s->pgrp == pgid) members.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return members;
}

// Resident bytes of the group's members that are still in it.
int64_t group_rss_bytes(pid_t pgid, const std::vector<pid_t>& members) {
  int64_t sum = 0;
  for (pid_t m : members) {
    const auto s = read_stat(m);
    if (s && s->pgrp == pgid) sum += s->rss_bytes;
  }
  return sum;
}

std::string tail_of(int fd, size_t max_bytes) {
  const off_t size = lseek(fd, 0, SEEK_END);
  const off_t from = size > static_cast<off_t>(max_bytes) ? size - max_bytes : 0;
  std::string out(static_cast<size_t>(size - from), '\0');
  if (pread(fd, out.data(), out.size(), from) < 0) return "";
  // A framework's output is any bytes: cut on a line (or character) boundary, valid UTF-8.
  return utf8_tail(out, max_bytes);
}

}  // namespace

ChildOutcome run_child(const std::vector<std::string>& argv, double timeout_s,
                       int64_t memory_limit_bytes, const std::atomic<bool>& interrupted) {
  char log_name[] = "/tmp/infermark-cell-XXXXXX";
  const int log_fd = mkstemp(log_name);
  if (log_fd < 0) throw Error("cannot create a temporary file for a cell's output");
  unlink(log_name);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    throw Error("cannot start a process for a cell (fork failed)");
  }
  if (pid == 0) {
    setpgid(0, 0);  // Ctrl-C reaches the sweep, which then stops the cell itself
    // A parent that dies without stopping the child (SIGKILL, a closed terminal) takes it
    // along: a cell never runs on without its timeout and memory watch.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execv(args[0], args.data());
    std::fprintf(stderr, "cannot run %s\n", args[0]);
    _exit(127);
  }
  setpgid(pid, pid);

  ChildOutcome out;
  int status = 0;
  bool killed = false;
  // Finding the group's members reads every process's /proc entry (milliseconds on a busy
  // machine), too much for each 10 ms sample of a cell being measured: the list is refreshed
  // at most every 100 ms and at most 2% of the time, and each sample reads the members only.
  std::vector<pid_t> members = {pid};
  auto members_read = t0;
  auto members_refresh = std::chrono::steady_clock::duration::zero();
  for (;;) {
    siginfo_t ended{};
    // WNOWAIT: the cell's process stays a zombie, so its id keeps naming its group below.
    if (waitid(P_PID, pid, &ended, WEXITED | WNOHANG | WNOWAIT) == 0 && ended.si_pid == pid) break;
    const auto now = std::chrono::steady_clock::now();
    out.wall_s = std::chrono::duration<double>(now - t0).count();
    if (!killed) {
      if (now - members_read >= members_refresh) {
        members = group_members(pid);
        members_read = std::chrono::steady_clock::now();
        members_refresh = std::max<std::chrono::steady_clock::duration>(
            std::chrono::milliseconds(100), 50 * (members_read - now));
      }
      const int64_t rss = group_rss_bytes(pid, members);
      out.peak_rss_bytes = std::max(out.peak_rss_bytes, rss);
      if (interrupted.load()) {
        out.kind = ChildOutcome::Kind::kInterrupted;
      } else if (timeout_s > 0 && out.wall_s > timeout_s) {
        out.kind = ChildOutcome::Kind::kTimedOut;
      } else if (memory_limit_bytes > 0 && rss > memory_limit_bytes) {
        out.kind = ChildOutcome::Kind::kMemoryExceeded;
      }
      if (out.kind != ChildOutcome::Kind::kExited) {
        kill(-pid, SIGKILL);
        killed = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // A helper the cell left behind would hold memory and cores during the next cell.
  kill(-pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!killed) {
    if (WIFEXITED(status)) {
      out.kind = ChildOutcome::Kind::kExited;
      out.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      out.kind = ChildOutcome::Kind::kSignaled;
      out.signal = WTERMSIG(status);
    }
  }
  out.output_tail = tail_of(log_fd, 4000);
  close(log_fd);
  return out;
}

}  // namespace infermark
