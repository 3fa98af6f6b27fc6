#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace infermark {

// How a child process ended. The sweep runs each cell in its own child so that a crash, an
// out-of-memory kill or a hang of a framework ends that cell only.
struct ChildOutcome {
  enum class Kind { kExited, kSignaled, kTimedOut, kMemoryExceeded, kInterrupted };
  Kind kind = Kind::kExited;
  int exit_code = 0;
  int signal = 0;
  // Peak of the resident memory summed over the child's process group (the child and the
  // processes it started), sampled by the parent every 10 ms.
  int64_t peak_rss_bytes = 0;
  double wall_s = 0;
  std::string output_tail;  // last lines of the child's stdout and stderr together
};

// Runs argv (argv[0] an absolute path) in a new process group with stdout and stderr
// captured, kills the group on timeout (timeout_s <= 0: none), when the resident memory of
// all its processes together passes memory_limit_bytes (<= 0: no limit), or when
// `interrupted` becomes true. Processes of the group still running when the child ends are
// killed. A process that left the group (setsid, setpgid) is neither counted nor killed.
// The child is killed too when the thread that called run_child ends (PR_SET_PDEATHSIG): call
// it from a thread that outlives the child. output_tail is valid UTF-8.
ChildOutcome run_child(const std::vector<std::string>& argv, double timeout_s,
                       int64_t memory_limit_bytes, const std::atomic<bool>& interrupted);

}  // namespace infermark
