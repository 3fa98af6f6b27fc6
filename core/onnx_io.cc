#include "core/onnx_io.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/text.h"

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

void infer_shapes(onnx::ModelProto& model, const onnx::ShapeInferenceOptions& options) {
  // The operators' schemas, built here once rather than in every child.
  onnx::OpSchemaRegistry::Schema("Conv", 11, "");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw Error(std::string("cannot start shape inference: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(std::string("cannot start shape inference: ") + std::strerror(errno));
  }
  if (pid == 0) {  // the child: "m" and the inferred model, or "e" and the library's message
    ::close(fds[0]);
    // A crash is the parent's to report: the signal ends the child at once (no handler of this
    // process's, such as a sanitizer's, writes a report of it).
    for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, SIG_DFL);
    std::string out;
    try {
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
      out = "m" + model.SerializeAsString();
    } catch (const std::exception& e) {
      out = std::string("e") + e.what();
    }
    // Ended by the system call itself: exit hooks (a sanitizer's leak check of the memory the
    // child shares with its parent) have nothing to do here.
    for (size_t done = 0; done < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) syscall(SYS_exit_group, 1);
      done += static_cast<size_t>(n);
    }
    syscall(SYS_exit_group, 0);
    _exit(0);  // not reached
  }
  ::close(fds[1]);
  std::string got;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.empty())
    throw Error("the ONNX library's shape inference crashed on this graph (" +
                (WIFSIGNALED(status) ? signal_name(WTERMSIG(status))
                                     : "exit " + std::to_string(WEXITSTATUS(status))) +
                ")");
  if (got[0] == 'e') {
    std::string why = got.substr(1);
    why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
    throw Error(why);
  }
  if (!model.ParseFromString(got.substr(1)))
    throw Error("the result of shape inference cannot be read back");
}

}  // namespace infermark
