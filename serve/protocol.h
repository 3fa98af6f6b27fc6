#pragma once

// The KServe v2 (Open Inference) protocol's messages, as the server and the load generator
// exchange them over HTTP/REST, with Triton's binary tensor data extension: what a request
// and a response carry, parsed from and written to the wire, independent of any socket. The
// gRPC transport (serve/grpc.cc) converts its protobuf messages to the same structs. Every
// parser here takes untrusted bytes: it throws ServeError (one line saying what is wrong),
// never crashes, and bounds what it allocates by the bytes it was given (fuzz/).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace infermark::serve {

// What went wrong, as both transports answer it.
enum class Code {
  kInvalidArgument,  // HTTP 400, gRPC INVALID_ARGUMENT: malformed request, wrong dtype/shape
  kNotFound,         // 404, NOT_FOUND: no such model or route
  kTooLarge,         // 413, RESOURCE_EXHAUSTED: a body over the limit
  kOverloaded,       // 429, RESOURCE_EXHAUSTED: the model's queue is full
  kUnauthenticated,  // 401, UNAUTHENTICATED: missing or wrong bearer token
  kUnavailable,      // 503, UNAVAILABLE: shutting down, model not ready
  kInternal,         // 500, INTERNAL: the framework failed
};
int http_status(Code code);
const char* code_name(Code code);

class ServeError : public Error {
 public:
  ServeError(Code code, const std::string& message) : Error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// One tensor of a request or response. Only FP32 data is held (what the models take and
// give); a request's tensor of another datatype is refused when it is checked against the
// model (check_request), after parsing kept its datatype.
struct WireTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool binary = false;  // HTTP: the data travels in the binary part (binary_data_size)
};

struct InferRequest {
  std::string model;
  std::string version;
  std::string id;
  std::vector<WireTensor> inputs;
  std::vector<std::string> outputs;  // requested by name; empty: every output
  bool binary_output = false;        // HTTP: answer with the binary extension
};

struct InferResponse {
  std::string model;
  std::string version = "1";
  std::string id;
  std::vector<WireTensor> outputs;
};

// An HTTP body and, for the binary extension, the length of its JSON part (the
// Inference-Header-Content-Length header); nullopt: the body is all JSON.
struct HttpBody {
  std::string body;
  std::optional<size_t> json_length;
};

// Limits of what a parser accepts, beyond the body size the HTTP layer bounds.
inline constexpr int kMaxJsonDepth = 16;
// JSON values outside the tensors' data (names, shapes, parameters): a request needs tens.
inline constexpr size_t kMaxJsonValues = 10000;
inline constexpr size_t kMaxTensors = 16;
inline constexpr size_t kMaxRank = 8;
inline constexpr int64_t kMaxElements = int64_t{1} << 30;

// Parses the body of POST /v2/models/{model}/infer. model: from the URL. Throws ServeError
// kInvalidArgument naming the field that is wrong.
InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length,
                                 const std::string& model);
HttpBody write_infer_request(const InferRequest& request);
// The same body as parts to send one after the other, so that the tensors' data is sent from
// where it is instead of being copied into a body: the JSON part, then each binary input's
// data in input order (views into `request`, valid while it lives).
struct HttpBodyParts {
  std::string json;
  std::optional<size_t> json_length;  // as HttpBody's
  std::vector<std::string_view> binary;
  size_t size() const;
};
HttpBodyParts write_infer_request_parts(const InferRequest& request);

// The response's body: binary when the request asked for it.
HttpBody write_infer_response(const InferResponse& response, bool binary);
InferResponse parse_infer_response(std::string_view body, std::optional<size_t> json_length);

// {"error": "..."}
std::string error_body(const std::string& message);

// The value of an Inference-Header-Content-Length header; throws ServeError when it is not a
// number no larger than the body.
std::optional<size_t> parse_json_length(const std::string& header, size_t body_size);

// "FP32" shape element count, checked: throws ServeError on a negative dimension, a rank over
// kMaxRank or more than kMaxElements elements.
int64_t checked_elements(const std::vector<int64_t>& shape, const std::string& what);

}  // namespace infermark::serve
