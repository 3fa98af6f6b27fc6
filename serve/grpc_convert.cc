#include "serve/grpc_convert.h"

#include <cstring>

namespace infermark::serve {
namespace {

ServeError bad(const std::string& message) { return {Code::kInvalidArgument, message}; }

// A tensor's FP32 data from raw bytes (size checked against the shape).
void raw_data(WireTensor& t, const std::string& bytes, int64_t n, const std::string& where) {
  if (bytes.size() != static_cast<size_t>(n) * sizeof(float))
    throw bad(where + " has " + std::to_string(bytes.size()) + " raw bytes; FP32 shape " +
              shape_string(t.shape) + " needs " + std::to_string(n * 4));
  t.data.resize(static_cast<size_t>(n));
  if (n > 0) std::memcpy(t.data.data(), bytes.data(), bytes.size());
}

template <typename Tensors, typename Raw>
std::vector<WireTensor> read_tensors(const Tensors& tensors, const Raw& raw, const char* what) {
  if (static_cast<size_t>(tensors.size()) > kMaxTensors)
    throw bad(std::string(what) + " lists " + std::to_string(tensors.size()) +
              " tensors, more than " + std::to_string(kMaxTensors));
  if (!raw.empty() && raw.size() != tensors.size())
    throw bad(std::string(what) + ": " + std::to_string(raw.size()) + " raw contents for " +
              std::to_string(tensors.size()) + " tensors");
  std::vector<WireTensor> out;
  for (int i = 0; i < tensors.size(); ++i) {
    const auto& m = tensors[i];
    WireTensor t;
    t.name = m.name();
    t.datatype = m.datatype();
    const std::string where = std::string(what) + "[" + std::to_string(i) + "] '" + t.name + "'";
    if (static_cast<size_t>(m.shape_size()) > kMaxRank)
      throw bad(where + " has rank " + std::to_string(m.shape_size()) + ", more than " +
                std::to_string(kMaxRank));
    t.shape.assign(m.shape().begin(), m.shape().end());
    const int64_t n = checked_elements(t.shape, where);
    if (t.datatype == "FP32") {
      if (!raw.empty()) {
        raw_data(t, raw[i], n, where);
      } else {
        const auto& c = m.contents().fp32_contents();
        if (c.size() != n)
          throw bad(where + " has " + std::to_string(c.size()) + " fp32_contents; shape " +
                    shape_string(t.shape) + " needs " + std::to_string(n));
        t.data.assign(c.begin(), c.end());
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

template <typename Message>
void write_tensor(const WireTensor& t, Message& m, std::string& raw) {
  m.set_name(t.name);
  m.set_datatype(t.datatype);
  for (int64_t d : t.shape) m.add_shape(d);
  raw.assign(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
}

}  // namespace

InferRequest from_proto(const inference::ModelInferRequest& message) {
  InferRequest r;
  r.model = message.model_name();
  r.version = message.model_version();
  r.id = message.id();
  r.inputs = read_tensors(message.inputs(), message.raw_input_contents(), "inputs");
  if (message.outputs_size() > static_cast<int>(kMaxTensors)) throw bad("too many outputs");
  for (const auto& o : message.outputs()) r.outputs.push_back(o.name());
  r.binary_output = true;
  return r;
}

void to_proto(const InferRequest& request, inference::ModelInferRequest& message) {
  message.set_model_name(request.model);
  if (!request.version.empty()) message.set_model_version(request.version);
  if (!request.id.empty()) message.set_id(request.id);
  for (const WireTensor& t : request.inputs)
    write_tensor(t, *message.add_inputs(), *message.add_raw_input_contents());
  for (const std::string& o : request.outputs) message.add_outputs()->set_name(o);
}

void to_proto(const InferResponse& response, inference::ModelInferResponse& message) {
  message.set_model_name(response.model);
  message.set_model_version(response.version);
  if (!response.id.empty()) message.set_id(response.id);
  for (const WireTensor& t : response.outputs)
    write_tensor(t, *message.add_outputs(), *message.add_raw_output_contents());
}

InferResponse from_proto(const inference::ModelInferResponse& message) {
  InferResponse r;
  r.model = message.model_name();
  r.version = message.model_version();
  r.id = message.id();
  r.outputs = read_tensors(message.outputs(), message.raw_output_contents(), "outputs");
  return r;
}

}  // namespace infermark::serve
