#include "core/onnx_io.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;

onnx::ModelProto load_onnx(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("model file '" + path.string() + "' does not exist");
  if (fs::is_directory(path, ec))
    throw Error("model file '" + path.string() + "' is a directory, not an ONNX file");
  const auto size = fs::file_size(path, ec);
  if (!ec && size == 0) throw Error("model file '" + path.string() + "' is empty");

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open model file '" + path.string() + "': " + std::strerror(errno));
  onnx::ModelProto model;
  bool parsed = false;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    // ONNX allows up to 2 GiB in one file; protobuf's own default is lower on old releases.
    coded.SetTotalBytesLimit(std::numeric_limits<int>::max());
    parsed = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed)
    throw Error("model file '" + path.string() +
                "' is not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw Error("model file '" + path.string() + "' is not an ONNX model: it has no graph");
  if (model.opset_import_size() == 0)
    throw Error("model file '" + path.string() + "' is not an ONNX model: it imports no opset");
  return model;
}

void save_onnx(const onnx::ModelProto& model, const fs::path& path) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec)
      throw Error("cannot create directory '" + path.parent_path().string() + "': " + ec.message());
  }
  const fs::path tmp = path.string() + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw Error("cannot write model file '" + path.string() + "': " + std::strerror(errno));
    if (!model.SerializeToOstream(&out))
      throw Error("cannot serialize model to '" + path.string() + "' (over 2 GiB?)");
    out.close();
    if (!out)
      throw Error("cannot write model file '" + path.string() + "': " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot write model file '" + path.string() + "': " + ec.message());
}

void check_onnx(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    // The checker's "full check": strict shape and type inference over a copy.
    onnx::ModelProto copy = model;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX checker rejected the model: ") + e.what());
  }
}

}  // namespace infermark
