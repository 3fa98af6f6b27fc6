// What a study knows of each model before any cell runs (describe_model, declared in
// sweep/study_internal.h): its file and hash, input shape, parameters and FLOPs per image,
// read in the parent once per model.
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/model_stats.h"
#include "core/onnx_io.h"
#include "prepare/prepare.h"
#include "sweep/study_internal.h"

namespace infermark::study_internal {
namespace fs = std::filesystem;
namespace {

std::string fnv_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  uint64_t h = fnv1a("");
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0)
    h = fnv1a(std::string_view(buf.data(), static_cast<size_t>(in.gcount())), h);
  return hex64(h);
}

// The image side a model is described (and prepared) at: --input-size where the file leaves
// its image's height or width free, else the file's own (nullopt).
std::optional<int64_t> free_image_side(const onnx::ModelProto& model, int64_t input_size) {
  std::set<std::string> initializers;
  for (const auto& t : model.graph().initializer()) initializers.insert(t.name());
  for (const auto& in : model.graph().input()) {
    if (initializers.count(in.name())) continue;
    const auto& dims = in.type().tensor_type().shape().dim();
    for (int i = 1; i < dims.size(); ++i)
      if (!dims[i].has_dim_value()) return input_size;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

ModelRef describe_model(const std::string& name, const zoo::Options& options) {
  ModelRef m;
  m.name = name;
  try {
    const fs::path path = fs::absolute(zoo::model_file(name, options));
    ModelStats s;
    const onnx::ModelProto model = load_onnx(path);
    const std::optional<int64_t> side = free_image_side(model, options.input_size);
    try {
      s = compute_stats(model, name, side);
    } catch (const Error& raw) {
      // A graph that computes at run time what the input's shape fixes (pads from Shape and
      // arithmetic) is described once folded at its image size, as the frameworks will see it
      // by default.
      // A graph that also computes from its batch (a flatten through Shape, as PyTorch's
      // exporter writes it for a free batch) is described at batch 1: the statistics are per
      // image, and the file's batch stays free.
      auto folded_stats = [&](int64_t batch) {
        PrepareOptions folded;
        if (side) folded.height = folded.width = *side;
        folded.batch = batch;
        ModelStats f = compute_stats(load_onnx(prepare_model(path, folded).file), name);
        f.free_image = side.has_value();
        if (batch > 0) f.fixed_batch = 0;
        return f;
      };
      try {
        s = folded_stats(0);
      } catch (const Error&) {
        try {
          s = folded_stats(1);
        } catch (const Error&) {
          throw raw;
        }
      }
    }
    m.path = path.string();
    m.hash = "fnv1a64:" + fnv_file(path);
    m.file_bytes = static_cast<int64_t>(fs::file_size(path));
    m.input_shape = s.input_shape;
    m.parameters = s.parameters;
    m.flops_per_image = s.flops;
    m.stats = to_json(s);
  } catch (const Error& e) {
    m.error = e.what();
  }
  return m;
}

}  // namespace infermark::study_internal
