#include "sweep/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/error.h"

namespace infermark {
namespace {

int64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

std::string tail_of(int fd, size_t max_bytes) {
  const off_t size = lseek(fd, 0, SEEK_END);
  const off_t from = size > static_cast<off_t>(max_bytes) ? size - max_bytes : 0;
  std::string out(static_cast<size_t>(size - from), '\0');
  if (pread(fd, out.data(), out.size(), from) < 0) return "";
  if (from > 0) {  // start at a line boundary
    const auto nl = out.find('\n');
    if (nl != std::string::npos) out.erase(0, nl + 1);
  }
  return out;
}

}  // namespace

ChildOutcome run_child(const std::vector<std::string>& argv, double timeout_s,
                       int64_t memory_limit_bytes, const std::atomic<bool>& interrupted) {
  char log_name[] = "/tmp/infermark-cell-XXXXXX";
  const int log_fd = mkstemp(log_name);
  if (log_fd < 0) throw Error("cannot create a temporary file for a cell's output");
  unlink(log_name);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    throw Error("cannot start a process for a cell (fork failed)");
  }
  if (pid == 0) {
    setpgid(0, 0);  // Ctrl-C reaches the sweep, which then stops the cell itself
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
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!killed) {
      const int64_t rss = rss_bytes(pid);
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
