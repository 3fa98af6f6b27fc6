// The IREE plugin's compile steps as subprocesses (see compile_tools.h).

#include "backends/iree/compile_tools.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "backends/plugin.h"

extern char** environ;

namespace infermark::iree_detail {

ToolResult run_tool(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "PYTHONPATH=", 11) != 0 && std::strncmp(*e, "PYTHONHOME=", 11) != 0)
      env.push_back(*e);
  }
  env.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw Error("iree: cannot create a pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  ToolResult r;
  if (rc != 0) {
    ::close(fds[0]);
    r.output = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  // The first and the last 512 kB: the first MLIR errors and the final Python exception,
  // bounded when a tool dumps IR.
  constexpr size_t kKeep = 512 << 10;
  std::string tail;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string& to = r.output.size() < kKeep ? r.output : tail;
    to.append(buf, static_cast<size_t>(n));
    if (tail.size() > 2 * kKeep) tail.erase(0, tail.size() - kKeep);
  }
  ::close(fds[0]);
  if (!tail.empty()) r.output += "\n" + tail;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (WIFSIGNALED(status)) r.output += "\nkilled by signal " + std::to_string(WTERMSIG(status));
  return r;
}

std::string meaningful(const std::string& output) {
  std::vector<std::string> lines;
  {
    std::istringstream in(output);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  const auto traceback = output.rfind("Traceback (most recent call last):");
  if (traceback != std::string::npos) {
    static const std::regex exc(R"(^([A-Za-z_][\w.]*\.)?(\w*(Error|Exception|Exit)\w*):?(.*)$)");
    for (size_t i = lines.size(); i-- > 0;) {
      std::smatch m;
      if (std::regex_match(lines[i], m, exc)) {
        std::string rest = m[4].str();
        for (size_t j = i + 1; j < lines.size(); ++j) rest += "\n" + lines[j];
        rest = collapse_whitespace(rest);
        if (rest.rfind("==> ", 0) == 0 || rest.find(" ==> ") != std::string::npos) {
          const auto arrow = rest.find("==> ");
          rest = rest.substr(0, arrow) + "(" + rest.substr(arrow + 4) + ")";
        }
        return m[2].str() + ": " + collapse_whitespace(rest);
      }
    }
  }
  std::vector<std::string> errors, ops;
  static const std::regex diag(R"(^(.*?:\d+:\d+: )?error: (.*)$)");
  static const std::regex op(R"(torch\.operator\s*"onnx\.(\w+)\")");
  for (const auto& l : lines) {
    std::smatch m;
    if (std::regex_match(l, m, diag)) {
      // "failed to legalize operation 'torch.operator' ...: %553 = "torch.operator"(...)":
      // the operation's IR is noise here; its ONNX operator is named below.
      std::string e = m[2].str();
      const auto ir = e.find(": %");
      if (ir != std::string::npos) e.resize(ir);
      if (std::find(errors.begin(), errors.end(), e) == errors.end()) errors.push_back(e);
    }
    for (std::sregex_iterator it(l.begin(), l.end(), op), end; it != end; ++it) {
      const std::string name = (*it)[1].str();
      if (std::find(ops.begin(), ops.end(), name) == ops.end()) ops.push_back(name);
    }
  }
  if (!errors.empty()) {
    constexpr size_t kMaxErrors = 3;
    std::string s;
    for (size_t i = 0; i < errors.size() && i < kMaxErrors; ++i) s += (i ? "; " : "") + errors[i];
    if (errors.size() > kMaxErrors)
      s += "; (" + std::to_string(errors.size() - kMaxErrors) + " more)";
    if (!ops.empty()) {
      s += " (ONNX operator";
      s += ops.size() > 1 ? "s " : " ";
      for (size_t i = 0; i < ops.size(); ++i) s += (i ? ", " : "") + ops[i];
      s += ")";
    }
    return s;
  }
  std::string tail;
  for (size_t i = lines.size(), kept = 0; i-- > 0 && kept < 3;) {
    std::string line = collapse_whitespace(lines[i]);
    if (line.empty()) continue;
    if (!tail.empty()) line += " " + tail;
    tail = std::move(line);
    ++kept;
  }
  return tail.empty() ? "no output" : tail;
}

bool is_unsupported(const std::string& message) {
  for (const char* pattern : {"No Op registered", "failed to legalize", "not supported",
                              "unsupported", "Unsupported", "not implemented"}) {
    if (message.find(pattern) != std::string::npos) return true;
  }
  return false;
}

}  // namespace infermark::iree_detail
