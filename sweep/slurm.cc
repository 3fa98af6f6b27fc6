#include "sweep/slurm.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/result.h"
#include "core/text.h"

namespace infermark {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct CommandResult {
  int code = -1;     // exit status; 127 when the command could not start
  std::string text;  // its stdout and stderr together
};

// Runs a command found on PATH (Slurm's clients), stdin from /dev/null, and collects what it
// prints.
CommandResult command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fd[2];
  if (pipe(fd) != 0) throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw Error(std::string("cannot start ") + argv[0] + ": " + std::strerror(errno));
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    dup2(in, STDIN_FILENO);
    dup2(fd[1], STDOUT_FILENO);
    dup2(fd[1], STDERR_FILENO);
    close(fd[0]);
    close(fd[1]);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fd[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) r.text.append(buf, static_cast<size_t>(n));
  close(fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The last non-empty line of a command's output, for an error message.
std::string last_line(const std::string& text) {
  std::string last, line;
  std::istringstream in(text);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("'" + file.string() + "' cannot be read");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw Error("'" + file.string() + "' is not JSON");
  return j;
}

// Written under a temporary name and renamed: a reader never sees half a file.
void write_file(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << text;
    if (!out.flush()) throw Error("cannot write '" + tmp.string() + "'");
  }
  fs::rename(tmp, file);
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::vector<CellSpec> read_cells(const fs::path& file) {
  std::vector<CellSpec> cells;
  int n = 0;
  for (const auto& line : read_lines(file)) {
    ++n;
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded())
      throw Error("cells file '" + file.string() + "' line " + std::to_string(n) + " is not JSON");
    cells.push_back(cell_from_json(j));
  }
  return cells;
}

json runner_json(const CellRunner& r) {
  return {{"cell_timeout_s", r.cell_timeout_s},
          {"memory_limit_bytes", r.memory_limit_bytes},
          {"threads", r.threads},
          {"rounds", r.rounds}};
}

CellRunner runner_from_json(const json& j) {
  CellRunner r;
  r.cell_timeout_s = j.at("cell_timeout_s").get<double>();
  r.memory_limit_bytes = j.at("memory_limit_bytes").get<int64_t>();
  r.threads = j.at("threads").get<int>();
  r.rounds = j.at("rounds").get<int>();
  return r;
}

std::string task_name(int submission, int task) {
  return std::to_string(submission) + "-" + std::to_string(task);
}

// What became of one array task: "done" (it ran all its cells), a Slurm state while it is
// queued or running (PENDING, RUNNING, ...), the state Slurm ended it in (CANCELLED, TIMEOUT,
// NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, FAILED, ...), or "LOST" when it left Slurm's queue
// without finishing and Slurm keeps no record of why (no accounting database).
struct TaskState {
  std::string state;
  std::string node;
};

bool active(const std::string& state) {
  static const std::set<std::string> kActive = {
      "PENDING",   "RUNNING",   "CONFIGURING", "COMPLETING", "REQUEUED",     "RESIZING",
      "SUSPENDED", "SIGNALING", "STAGE_OUT",   "STOPPED",    "REQUEUE_HOLD", "REQUEUE_FED"};
  return kActive.count(state) > 0;
}

// "12_3", "12_[0-2,5]" -> the task numbers; none for another job's line.
std::vector<int> task_numbers(const std::string& id, const std::string& job) {
  std::vector<int> out;
  const std::string prefix = job + "_";
  if (id.rfind(prefix, 0) != 0) return out;
  std::string rest = id.substr(prefix.size());
  if (!rest.empty() && rest.front() == '[') {
    rest = rest.substr(1, rest.find(']') - 1);
    const size_t percent = rest.find('%');  // "[0-9%2]": at most 2 at once
    if (percent != std::string::npos) rest = rest.substr(0, percent);
    std::istringstream parts(rest);
    std::string part;
    while (std::getline(parts, part, ',')) {
      const size_t dash = part.find('-');
      try {
        const int a = std::stoi(part.substr(0, dash));
        const int b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
        for (int t = a; t <= b; ++t) out.push_back(t);
      } catch (const std::exception&) {
      }
    }
    return out;
  }
  try {
    out.push_back(std::stoi(rest));
  } catch (const std::exception&) {
  }
  return out;
}

// Reads "id|state|node" lines of squeue or sacct into `states` (where not set yet).
void read_queue(const std::string& text, const std::string& job, std::map<int, TaskState>& states,
                bool overwrite) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream cols(line);
    std::string col;
    while (std::getline(cols, col, '|')) f.push_back(col);
    if (f.size() < 2) continue;
    std::string state = f[1].substr(0, f[1].find(' '));  // "CANCELLED by 0"
    for (int t : task_numbers(f[0], job))
      if (overwrite || !states.count(t)) states[t] = {state, f.size() > 2 ? f[2] : ""};
  }
}

std::map<int, TaskState> task_states(const fs::path& dir, int submission, const std::string& job,
                                     int tasks) {
  std::map<int, TaskState> slurm;
  // The queue: pending and running tasks, and finished ones for MinJobAge.
  const CommandResult q =
      command({"squeue", "-h", "-r", "--states=all", "-j", job, "-o", "%i|%T|%N"});
  if (q.code == 127) throw Error("squeue is not installed or not on PATH");
  if (q.code == 0) read_queue(q.text, job, slurm, true);
  // Accounting, where the cluster keeps it: how each finished task ended.
  const CommandResult a =
      command({"sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,State,NodeList"});
  if (a.code == 0) read_queue(a.text, job, slurm, false);
  std::map<int, TaskState> states;
  for (int t = 0; t < tasks; ++t) {
    if (fs::exists(dir / "tasks" / (task_name(submission, t) + ".done"))) {
      states[t] = {"done", slurm.count(t) ? slurm[t].node : ""};
    } else if (slurm.count(t)) {
      states[t] = slurm[t];
    } else {
      states[t] = {"LOST", ""};
    }
  }
  return states;
}

// Reads a result line's key and status; "" for a line that is not one.
std::pair<std::string, std::string> key_and_status(const std::string& line) {
  const json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {"", ""};
  return {j.value("cell_key", std::string()), j.value("status", std::string())};
}

// One pass: task states, the merge into the result file, progress on stderr. Returns whether
// a task is still pending or running.
bool collect_once(const fs::path& dir, bool quiet) {
  const json state = read_json(dir / "study.json");
  const fs::path out = state.at("out").get<std::string>();

  std::vector<std::string> lines = read_lines(out);
  std::map<std::string, size_t> index;  // cell key -> line
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto [key, status] = key_and_status(lines[i]);
    if (!key.empty()) index[key] = i;
  }
  bool changed = false;
  // A cell's line: new, or replacing one of a cell that Slurm stopped before it ran.
  auto put = [&](const std::string& key, const std::string& line) {
    const auto it = index.find(key);
    if (it == index.end()) {
      lines.push_back(line);
      index[key] = lines.size() - 1;
      changed = true;
    } else if (!counts_as_run(key_and_status(lines[it->second]).second) &&
               counts_as_run(key_and_status(line).second)) {
      lines[it->second] = line;
      changed = true;
    }
  };

  bool any_active = false;
  std::string progress;
  const json& subs = state.at("submissions");
  for (size_t n = 0; n < subs.size(); ++n) {
    const json& sub = subs[n];
    const std::string job = sub.at("job");
    const json& tasks = sub.at("tasks");
    const std::vector<CellSpec> cells = read_cells(dir / sub.at("cells").get<std::string>());
    const auto states = task_states(dir, static_cast<int>(n), job, static_cast<int>(tasks.size()));
    std::map<std::string, int> count;
    for (size_t t = 0; t < tasks.size(); ++t) {
      const TaskState& ts = states.at(static_cast<int>(t));
      const fs::path file = dir / "tasks" / (task_name(static_cast<int>(n), int(t)) + ".jsonl");
      for (const auto& line : read_lines(file)) {
        const auto [key, status] = key_and_status(line);
        if (!key.empty()) put(key, line);
      }
      if (ts.state == "done") {
        ++count["done"];
        continue;
      }
      if (active(ts.state)) {
        ++count[lower(ts.state)];
        any_active = true;
        continue;
      }
      ++count["stopped by Slurm"];
      // The cells it did not finish: recorded with what Slurm did, so the study shows them.
      const std::string why =
          ts.state == "LOST"
              ? "left Slurm's queue without finishing, and Slurm keeps no record of why here "
                "(no accounting database; a task cancelled before it started leaves no trace)"
              : "was ended by Slurm: " + ts.state + (ts.node.empty() ? "" : " on " + ts.node);
      for (const auto& i : tasks[t]) {
        const CellSpec& cell = cells.at(i.get<size_t>());
        ResultRow r;
        r.cell = cell;
        r.cell_key = cell_key(cell);
        r.time_utc = utc_now();
        r.status = "slurm_" + lower(ts.state);
        r.message = "array task " + std::to_string(t) + " of job " + job + " " + why +
                    " before this cell ran; --slurm --resume (bench or paper) submits it again";
        r.node = ts.node;
        put(r.cell_key, to_json(r).dump());
      }
    }
    progress += "job " + job + ": " + std::to_string(tasks.size()) + " tasks:";
    bool first = true;
    for (const auto& [what, k] : count) {
      progress += (first ? " " : ", ") + std::to_string(k) + " " + what;
      first = false;
    }
    progress += "\n";
  }
  if (changed) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    write_file(out, text);
  }
  size_t ran = 0;
  for (const auto& [key, i] : index) ran += counts_as_run(key_and_status(lines[i]).second);
  if (!quiet)
    std::fprintf(stderr, "%s%zu cells have results in %s\n", progress.c_str(), ran, out.c_str());
  return any_active;
}

}  // namespace

fs::path slurm_study_dir(const fs::path& out) {
  fs::path dir = fs::absolute(out);
  dir.replace_extension(".slurm");
  return dir;
}

int submit_study(const Study& study, const SlurmOptions& slurm) {
  study.validate();
  SlurmSubmission s;
  s.out = study.out;
  s.resume = study.resume;
  s.runner = runner_of(study);
  std::fprintf(stderr, "preparing models...\n");
  s.cells = expand(study);
  return submit_cells(s, slurm);
}

int submit_cells(const SlurmSubmission& study, const SlurmOptions& slurm) {
  if (slurm.cells_per_task < 1)
    throw Error("--cells-per-task " + std::to_string(slurm.cells_per_task) +
                " is invalid: must be >= 1");
  const fs::path out = fs::absolute(study.out);
  const fs::path dir = slurm_study_dir(out);
  json state;
  if (fs::exists(dir / "study.json")) {
    if (!study.resume)
      throw Error("study folder '" + dir.string() +
                  "' already has a submitted study: pass --resume to submit the cells that "
                  "have no result, or choose another --out");
    // What finished is merged first, so that only cells without results go again.
    if (collect_once(dir, true))
      throw Error("tasks of the study in '" + dir.string() +
                  "' are still pending or running: wait for them (infermark collect " +
                  dir.string() + " --wait) or scancel them before --resume");
    state = read_json(dir / "study.json");
  } else {
    if (!study.resume && fs::exists(out) && fs::file_size(out) > 0)
      throw Error("result file '" + out.string() +
                  "' already has results: pass --resume to continue it, or choose another --out");
    state = {{"out", out.string()}, {"submissions", json::array()}};
  }
  state["runner"] = runner_json(study.runner);
  if (!study.report.empty()) state["report"] = fs::absolute(study.report).string();

  const std::set<std::string> done = finished_keys(out);
  std::vector<CellSpec> todo;
  for (const auto& c : study.cells)
    if (!done.count(cell_key(c))) todo.push_back(c);
  if (todo.empty()) {
    std::printf("every cell of the study has a result in %s: nothing to submit\n", out.c_str());
    return 0;
  }

  const int n = static_cast<int>(state["submissions"].size());
  fs::create_directories(dir / "tasks");
  fs::create_directories(dir / "logs");
  const std::string cells_file = "cells-" + std::to_string(n) + ".jsonl";
  std::string text;
  for (const auto& c : todo) text += to_json(c).dump() + "\n";
  write_file(dir / cells_file, text);
  json tasks = json::array();
  for (size_t i = 0; i < todo.size(); i += static_cast<size_t>(slurm.cells_per_task)) {
    json task = json::array();
    for (size_t k = i; k < std::min(todo.size(), i + slurm.cells_per_task); ++k) task.push_back(k);
    tasks.push_back(task);
  }

  // The batch script runs this very program on the node (a cluster shares the file system).
  const fs::path program = fs::read_symlink("/proc/self/exe");
  const fs::path script = dir / ("job-" + std::to_string(n) + ".sh");
  auto quoted = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  write_file(script, "#!/bin/sh\n# infermark: array task $SLURM_ARRAY_TASK_ID runs its cells of " +
                         cells_file + "\nexec " + quoted(program.string()) +
                         " _slurm-task --study " + quoted(dir.string()) + " --submission " +
                         std::to_string(n) + " --task \"$SLURM_ARRAY_TASK_ID\"\n");
  fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add);

  std::vector<std::string> argv = {"sbatch", "--parsable", "--job-name=infermark",
                                   "--array=0-" + std::to_string(tasks.size() - 1),
                                   "--output=" + (dir / "logs" / "%A_%a.out").string()};
  if (slurm.exclusive) argv.push_back("--exclusive");
  if (!slurm.partition.empty()) argv.push_back("--partition=" + slurm.partition);
  if (!slurm.time.empty()) argv.push_back("--time=" + slurm.time);
  if (!slurm.account.empty()) argv.push_back("--account=" + slurm.account);
  argv.insert(argv.end(), slurm.sbatch_args.begin(), slurm.sbatch_args.end());
  argv.push_back(script.string());
  const CommandResult r = command(argv);
  if (r.code == 127)
    throw Error("sbatch is not installed or not on PATH: a study on Slurm needs Slurm's clients");
  const std::string job = last_line(r.text).substr(0, last_line(r.text).find(';'));
  if (r.code != 0 || job.empty() || job.find_first_not_of("0123456789") != std::string::npos)
    throw Error("sbatch refused the job: " + last_line(r.text));

  state["submissions"].push_back({{"job", job},
                                  {"cells", cells_file},
                                  {"tasks", tasks},
                                  {"time_utc", utc_now()},
                                  {"sbatch", argv}});
  write_file(dir / "study.json", state.dump(2) + "\n");
  std::printf("submitted %zu cells as job %s: %zu array tasks of up to %d cells\n", todo.size(),
              job.c_str(), tasks.size(), slurm.cells_per_task);
  std::printf("follow and merge the results: infermark collect %s --wait\n", dir.c_str());
  return 0;
}

int run_slurm_task(const fs::path& dir, int submission, int task) {
  const json state = read_json(dir / "study.json");
  const json& subs = state.at("submissions");
  if (submission < 0 || submission >= static_cast<int>(subs.size()))
    throw Error("study '" + dir.string() + "' has no submission " + std::to_string(submission));
  const json& sub = subs[submission];
  const json& tasks = sub.at("tasks");
  if (task < 0 || task >= static_cast<int>(tasks.size()))
    throw Error("submission " + std::to_string(submission) + " of study '" + dir.string() +
                "' has no array task " + std::to_string(task));
  const std::vector<CellSpec> cells = read_cells(dir / sub.at("cells").get<std::string>());
  std::vector<CellSpec> mine;
  for (const auto& i : tasks[task]) mine.push_back(cells.at(i.get<size_t>()));
  CellRunner runner = runner_from_json(state.at("runner"));
  runner.out = dir / "tasks" / (task_name(submission, task) + ".jsonl");
  runner.resume = true;
  std::fprintf(stderr, "infermark: array task %d of job %s on %s: %zu cells\n", task,
               sub.at("job").get<std::string>().c_str(), this_node().c_str(), mine.size());
  const int code = run_cells(mine, runner);
  if (code == 0)
    write_file(dir / "tasks" / (task_name(submission, task) + ".done"), utc_now() + "\n");
  return code;
}

Collected collect_study(const fs::path& dir, bool wait, double poll_s) {
  if (!fs::exists(dir / "study.json"))
    throw Error("'" + dir.string() +
                "' is not the folder of a study on Slurm (no study.json; bench --slurm writes "
                "it next to the result file)");
  Collected c;
  while ((c.active = collect_once(dir, false)) && wait)
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.1, poll_s)));
  const json state = read_json(dir / "study.json");
  c.out = state.at("out").get<std::string>();
  if (state.contains("report") && state["report"].is_string())
    c.report = state["report"].get<std::string>();
  return c;
}

}  // namespace infermark
