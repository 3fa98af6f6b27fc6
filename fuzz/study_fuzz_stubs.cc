// What the study target (study_fuzz.cc) links in place of the program's runners: the bench
// command reads and checks its study with the real code (cli/bench_command.cc, sweep/study.cc),
// then hands the cells to these instead of running them. Nothing here is reached before the
// study has been read and checked, except the frameworks' registry, whose stand-in knows a few
// frameworks and their settings as the real one reports them.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/error.h"
#include "core/machine.h"
#include "report/report.h"
#include "sweep/cell.h"
#include "sweep/slurm.h"
#include "sweep/study.h"
#include "sweep/study_internal.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {

[[noreturn]] void not_reached(const char* what) {
  std::fprintf(stderr, "FINDING: the study target reached %s, which it must not run\n", what);
  std::abort();
}

BackendInfo framework(const std::string& name) {
  BackendInfo b;
  b.name = name;
  b.available = true;
  b.version = "1.0";
  b.devices = {"cpu"};
  b.capabilities.precisions = {"fp32", "int8"};
  auto spec = [](const char* key, SettingSpec::Type type, const char* value) {
    SettingSpec s;
    s.key = key;
    s.type = type;
    s.default_value = value;
    return s;
  };
  SettingSpec mode = spec("mode", SettingSpec::Type::kEnum, "plain");
  mode.allowed = {"plain", "fast"};
  SettingSpec service = spec("service_ms", SettingSpec::Type::kInt, "0");
  service.max = 10000;
  b.settings = {mode, service, spec("flag", SettingSpec::Type::kBool, "false"),
                spec("cache", SettingSpec::Type::kPath, "")};
  return b;
}

}  // namespace

// The registry: "fake" and "onnxruntime" are available; any other name is unknown.
struct BackendRegistry::Plugin {
  BackendInfo info;
};

BackendRegistry::BackendRegistry(std::vector<std::filesystem::path> plugin_dirs,
                                 FrameworkOutput framework_output)
    : dirs_(std::move(plugin_dirs)), framework_output_(framework_output) {}
BackendRegistry::~BackendRegistry() = default;
std::vector<std::filesystem::path> BackendRegistry::default_plugin_dirs() { return {}; }

const BackendInfo& BackendRegistry::info(const std::string& name) {
  for (const auto& p : plugins_)
    if (p->info.name == name) return p->info;
  if (name != "fake" && name != "onnxruntime")
    throw Error("unknown framework '" + name + "' (known: fake, onnxruntime)");
  plugins_.push_back(std::make_unique<Plugin>(Plugin{framework(name)}));
  return plugins_.back()->info;
}

std::vector<BackendInfo> BackendRegistry::list() { return {info("fake"), info("onnxruntime")}; }

// A model as describe_model says it when its file loads: the statistics' input.
namespace study_internal {
ModelRef describe_model(const std::string& name, const zoo::Options& options) {
  ModelRef m;
  m.name = name;
  m.input_shape = {3, options.input_size, options.input_size};
  m.parameters = 1000;
  m.flops_per_image = 1e6;
  m.stats = {{"input", {{"fixed_batch", 0}}}};
  return m;
}
}  // namespace study_internal

// The runners: the cells are planned, not run; what run_cells does with each first, its key
// (for --resume) and its spec as JSON (the child's file), is done.
int run_cells(const std::vector<CellSpec>& cells, const CellRunner&) {
  for (const CellSpec& c : cells) {
    cell_key(c);
    to_json(c).dump();
  }
  return 0;
}
int submit_study(const Study& study, const SlurmOptions&) {
  study.validate();
  return 0;
}
void write_csv(const std::vector<std::filesystem::path>&, const std::filesystem::path&) {}

Machine read_machine(PeakCache) { not_reached("read_machine"); }
int run_slurm_task(const std::filesystem::path&, int, int) { not_reached("run_slurm_task"); }
Collected collect_study(const std::filesystem::path&, bool, double) {
  not_reached("collect_study");
}
std::filesystem::path write_report(const std::vector<ResultRow>&, const std::filesystem::path&,
                                   const std::vector<AccuracyRow>&,
                                   const std::vector<ConformanceRow>&,
                                   const std::vector<ExplainReport>&) {
  not_reached("write_report");
}
int run_cell_process(const std::filesystem::path&, const std::filesystem::path&) {
  not_reached("run_cell_process");
}

namespace zoo {
onnx::ModelProto build_vgg19(const Options&) { not_reached("the zoo's builders"); }
onnx::ModelProto build_resnet50(const Options&) { not_reached("the zoo's builders"); }
onnx::ModelProto build_densenet201(const Options&) { not_reached("the zoo's builders"); }
onnx::ModelProto build_efficientnet_b0(const Options&) { not_reached("the zoo's builders"); }
}  // namespace zoo

}  // namespace infermark
