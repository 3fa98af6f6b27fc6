#include "prepare/prepare.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "backends/cache.h"  // cpu_has_flag
#include "core/cache_dir.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/image.h"
#include "core/npy.h"

extern char** environ;

namespace infermark {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

// Runs argv with stdout to `out` and stderr to `err`; its exit status, or -1 when it could
// not start or did not exit.
int run(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ModelInterface interface_from(const json& j) {
  ModelInterface m;
  if (!j.is_object()) return m;
  m.input = j.value("input", "");
  m.output = j.value("output", "");
  m.layout = j.value("layout", "");
  m.input_type = j.value("input_type", "");
  m.input_dims = j.value("input_dims", std::vector<int64_t>{});
  m.output_dims = j.value("output_dims", std::vector<int64_t>{});
  m.opset = j.value("opset", 0);
  m.nodes = j.value("nodes", int64_t{0});
  return m;
}

json to_json(const ModelInterface& m) {
  return {{"input", m.input},           {"input_dims", m.input_dims},
          {"input_type", m.input_type}, {"layout", m.layout},
          {"output", m.output},         {"output_dims", m.output_dims},
          {"opset", m.opset},           {"nodes", m.nodes}};
}

PreparedModel from_meta(const fs::path& dir) {
  const json meta = json::parse(read_text(dir / "meta.json"));
  PreparedModel p;
  p.file = dir / "model.onnx";
  p.steps = meta.value("steps", std::vector<std::string>{});
  p.tools = meta.value("tools", json::object());
  p.sha256 = meta.value("sha256", "");
  p.before = interface_from(meta.value("before", json()));
  p.after = interface_from(meta.value("after", json()));
  return p;
}

}  // namespace

json to_json(const PreparedModel& p) {
  json j = {{"steps", p.steps}, {"cache", p.cache_hit ? "hit" : "miss"}};
  if (p.steps.empty()) return {{"steps", json::array()}};
  j["tools"] = p.tools;
  j["sha256"] = p.sha256;
  j["seconds"] = p.seconds;
  j["before"] = to_json(p.before);
  j["after"] = to_json(p.after);
  return j;
}

PrepareOptions preparation_options(const std::string& preparation) {
  if (preparation != "simplify" && preparation != "none")
    throw Error("preparation '" + preparation + "' is invalid: expected simplify or none");
  PrepareOptions o;
  o.simplify = preparation == "simplify";
  return o;
}

void prepare_for_precision(PrepareOptions& o, const std::string& precision) {
  o.quantize = precision == "int8" ? "int8" : "";
  // uint8 x int8 products without VNNI (vpmaddubsw) can saturate with 8-bit weights.
  o.reduce_range =
      o.quantize == "int8" && !cpu_has_flag("avx512_vnni") && !cpu_has_flag("avx_vnni");
}

void use_calibration_images(PrepareOptions& o, const fs::path& folder, const ImagePreprocess& p) {
  const std::vector<fs::path> files = image_files(folder);
  uint64_t h = fnv1a(p.describe());
  for (const auto& f : files) h = fnv1a(f.filename().string() + "\n" + read_text(f), h);
  const fs::path npy = cache_root() / "calibration" / (hex64(h) + ".npy");
  std::error_code ec;
  if (!fs::exists(npy, ec)) {
    const Tensor images = load_images(files, p);
    fs::create_directories(npy.parent_path(), ec);
    const fs::path tmp = npy.string() + ".tmp." + std::to_string(getpid());
    save_npy(images, tmp);
    fs::rename(tmp, npy, ec);
    if (ec) throw Error("cannot write '" + npy.string() + "': " + ec.message());
  }
  o.calibration_npy = npy;
  o.calibration_images = static_cast<int>(files.size());
}

PreparedModel prepare_model(const fs::path& model, const PrepareOptions& o) {
  std::error_code ec;
  if (!fs::is_regular_file(model, ec)) throw Error("model '" + model.string() + "': no such file");
  if (!o.quantize.empty() && o.quantize != "int8")
    throw Error("quantization '" + o.quantize + "' is unknown (valid: int8)");
  if (!o.quantize.empty() && o.calibration_images < 1)
    throw Error("calibration images " + std::to_string(o.calibration_images) +
                " is invalid: at least 1");
  const bool nothing_to_do = !o.simplify && o.height <= 0 && o.width <= 0 && o.batch <= 0 &&
                             o.opset_at_least <= 0 && o.quantize.empty();
  PreparedModel p;
  p.file = model;
  if (nothing_to_do) return p;

  const fs::path python = INFERMARK_PREPARE_PYTHON, script = INFERMARK_PREPARE_SCRIPT;
  if (!fs::exists(python, ec))
    throw Error("model preparation needs " + python.string() +
                ": run scripts/deps/prepare.sh (make does), or run with --prepare none");
  const fs::path source = fs::canonical(model, ec);
  // By content (core/hash.h): the same file at another path finds its preparation.
  std::string key = file_stamp(source) + "\n";
  key += std::to_string(o.simplify) + "," + std::to_string(o.height) + "," +
         std::to_string(o.width) + "," + std::to_string(o.batch) + "," +
         std::to_string(o.opset_at_least) + "\n";
  if (!o.quantize.empty()) {
    key += "quantize " + o.quantize + "," + std::to_string(o.calibration_images) + "," +
           std::to_string(o.calibration_seed) + "," + std::to_string(o.reduce_range) + "\n";
    if (!o.calibration_npy.empty()) key += "calibration " + file_stamp(o.calibration_npy) + "\n";
  }
  key += read_text(script) + read_text(INFERMARK_PREPARE_PINS);
  const fs::path dir =
      cache_root() / "prepared" / (model.stem().string() + "-" + hex64(fnv1a(key)));
  if (fs::exists(dir / "meta.json", ec)) {
    PreparedModel hit = from_meta(dir);
    hit.cache_hit = true;
    return hit;
  }

  const auto t0 = std::chrono::steady_clock::now();
  const fs::path work = dir.string() + ".partial-" + std::to_string(getpid());
  fs::remove_all(work, ec);
  fs::create_directories(work);
  std::vector<std::string> argv = {python.string(),
                                   script.string(),
                                   source.string(),
                                   (work / "model.onnx").string(),
                                   (work / "meta.json").string(),
                                   "--height",
                                   std::to_string(o.height),
                                   "--width",
                                   std::to_string(o.width),
                                   "--batch",
                                   std::to_string(o.batch),
                                   "--opset-at-least",
                                   std::to_string(o.opset_at_least)};
  if (o.simplify) argv.emplace_back("--simplify");
  if (!o.quantize.empty()) {
    for (const std::string& a :
         {std::string("--quantize"), o.quantize, std::string("--calibration-images"),
          std::to_string(o.calibration_images), std::string("--calibration-seed"),
          std::to_string(o.calibration_seed)})
      argv.push_back(a);
    if (o.reduce_range) argv.emplace_back("--reduce-range");
    if (!o.calibration_npy.empty()) {
      argv.emplace_back("--calibration-npy");
      argv.push_back(o.calibration_npy.string());
    }
  }
  const int code = run(argv, work / "stdout.log", work / "stderr.log");
  if (code != 0) {
    std::string why = last_line(read_text(work / "stderr.log"));
    if (why.empty()) why = "the preparation helper failed (exit " + std::to_string(code) + ")";
    fs::remove_all(work, ec);
    const std::string msg = "preparing '" + model.string() + "': " + why;
    if (code == 2) throw Unsupported(msg);
    throw Error(msg);
  }
  fs::rename(work, dir, ec);
  if (ec) {  // another process prepared it meanwhile: use theirs
    fs::remove_all(work, ec);
  }
  PreparedModel made = from_meta(dir);
  made.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return made;
}

}  // namespace infermark
