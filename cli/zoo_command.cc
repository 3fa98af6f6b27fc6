#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/model_stats.h"
#include "core/onnx_io.h"
#include "zoo/zoo.h"

namespace infermark::cli {
namespace fs = std::filesystem;
namespace {

struct ZooArgs {
  std::vector<std::string> models;
  std::string out;
  int64_t input_size = 224;
  CLI::Option* input_size_option = nullptr;  // given on the command line?
  double width = 1.0;
  uint64_t seed = 1;
  bool json = false;
};

zoo::Options options_of(const ZooArgs& a) {
  zoo::Options o;
  o.input_size = a.input_size;
  o.width = a.width;
  o.seed = a.seed;
  o.validate();
  return o;
}

void list() {
  for (const auto& e : zoo::entries()) {
    std::string extra;
    if (!e.members.empty()) {
      extra = " [ensemble:";
      for (const auto& m : e.members) extra += " " + m;
      extra += "]";
    }
    std::printf("%-16s %s%s\n", e.name.c_str(), e.description.c_str(), extra.c_str());
  }
}

void build(const ZooArgs& a) {
  const zoo::Options o = options_of(a);
  const zoo::Entry& e = zoo::find(a.models.front());
  auto write = [&](const std::string& name, const fs::path& path) {
    onnx::ModelProto m = zoo::build(name, o);
    check_onnx(m);
    save_onnx(m, path);
    std::cout << "wrote " << path.string() << " (" << name << ", " << fs::file_size(path)
              << " bytes)\n";
  };
  if (e.members.empty()) {
    write(e.name, a.out);
  } else {  // an ensemble: one file per member in the --out directory
    for (const auto& member : e.members) write(member, fs::path(a.out) / (member + ".onnx"));
  }
}

void append_stats(const std::string& what, const ZooArgs& a, std::vector<ModelStats>& rows) {
  std::optional<int64_t> size;
  if (a.input_size_option->count() > 0) size = a.input_size;
  const bool is_zoo = std::any_of(zoo::entries().begin(), zoo::entries().end(),
                                  [&](const zoo::Entry& e) { return e.name == what; });
  if (!is_zoo) {
    if (!fs::exists(what) && what.find('.') == std::string::npos &&
        what.find('/') == std::string::npos)
      zoo::find(what);  // throws: unknown name, with the list of known ones
    rows.push_back(compute_stats(load_onnx(what), what, size));
    return;
  }
  const zoo::Options o = options_of(a);
  const zoo::Entry& e = zoo::find(what);
  if (e.members.empty()) {
    rows.push_back(compute_stats(zoo::build(what, o), what, o.input_size));
    return;
  }
  ModelStats total;
  total.name = what + " (total)";
  for (const auto& member : e.members) {
    rows.push_back(compute_stats(zoo::build(member, o), member, o.input_size));
    const ModelStats& s = rows.back();
    total.input_name = s.input_name;
    total.input_shape = s.input_shape;
    total.opset = s.opset;
    total.parameters += s.parameters;
    total.buffers += s.buffers;
    total.layers = std::max(total.layers, s.layers);
    total.weighted_nodes += s.weighted_nodes;
    for (const auto& [op, n] : s.jumps) total.jumps[op] += n;
    total.jumps_total += s.jumps_total;
    total.macs += s.macs;
    total.flops += s.flops;
    total.weight_bytes += s.weight_bytes;
    total.nodes += s.nodes;
  }
  total.parameters_per_layer = static_cast<double>(total.parameters) / total.weighted_nodes;
  rows.push_back(total);
}

void stats(const ZooArgs& a) {
  std::vector<ModelStats> rows;
  for (const auto& m : a.models) append_stats(m, a, rows);
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) out.push_back(to_json(r));
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << format_stats_table(rows);
  }
}

}  // namespace

void add_zoo_command(CLI::App& app) {
  auto* zoo_cmd =
      app.add_subcommand("zoo", "The paper's models, built in C++, and their statistics");
  zoo_cmd->require_subcommand(1);
  auto args = std::make_shared<ZooArgs>();

  auto* list_cmd = zoo_cmd->add_subcommand("list", "List the zoo's models and ensembles");
  list_cmd->callback(list);

  auto* build_cmd = zoo_cmd->add_subcommand("build", "Write a zoo model as an ONNX file");
  build_cmd->add_option("name", args->models, "Model name (see zoo list)")->required()->expected(1);
  build_cmd->add_option("--out", args->out, "Output .onnx file (a directory for an ensemble)")
      ->required();
  build_cmd->add_option("--input-size", args->input_size, "Image side in pixels (default 224)");
  build_cmd->add_option("--width", args->width, "Channel width multiplier (default 1.0)");
  build_cmd->add_option("--seed", args->seed, "Seed of the weights (default 1)");
  build_cmd->callback([args] { build(*args); });

  auto* stats_cmd =
      zoo_cmd->add_subcommand("stats", "Table 1 statistics of zoo models or ONNX files");
  stats_cmd->add_option("models", args->models, "Zoo names or .onnx files")->required();
  args->input_size_option =
      stats_cmd->add_option("--input-size", args->input_size,
                            "Image side in pixels (default: the model's own, else 224)");
  stats_cmd->add_option("--width", args->width, "Channel width multiplier of zoo models");
  stats_cmd->add_flag("--json", args->json, "Print JSON");
  stats_cmd->callback([args] { stats(*args); });
}

}  // namespace infermark::cli
