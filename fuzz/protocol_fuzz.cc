// libFuzzer target for the KServe v2 parsers that take untrusted bytes (serve/protocol.h,
// serve/grpc_convert.h). The first byte picks the parser (its value modulo 8, so that the
// ASCII digits '0'..'7' of the seed files in fuzz/corpus/protocol/ name the modes):
//
//   0  HTTP infer request, all JSON
//   1  HTTP infer request with a binary part: "<Inference-Header-Content-Length>\n<body>"
//   2  HTTP infer response, all JSON
//   3  HTTP infer response with a binary part, as in 1
//   4  gRPC ModelInferRequest bytes
//   5  gRPC ModelInferResponse bytes
//   6  the Inference-Header-Content-Length header: 4 bytes of body size, then the header
//   7  gRPC ModelInferRequest bytes, sent on over HTTP (the same request through both parsers)
//
// ServeError is the expected answer to bad input. A finding is a crash, a sanitizer report,
// any other exception, or a parse that breaks what callers rely on: every FP32 tensor holds
// exactly its shape's elements, and what a parser accepted survives writing and parsing again.

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/grpc_convert.h"
#include "serve/protocol.h"

namespace {

using namespace infermark::serve;

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "FINDING: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_tensor(const WireTensor& t) {
  if (t.datatype != "FP32") return;
  const int64_t n = checked_elements(t.shape, t.name);
  if (static_cast<int64_t>(t.data.size()) != n)
    finding("FP32 tensor holds the wrong number of elements",
            "'" + t.name + "' shape " + infermark::shape_string(t.shape) + " but " +
                std::to_string(t.data.size()) + " values");
}

// Tensors equal in what the wire carries; data compared bit for bit (NaN survives binary).
bool same_tensors(const std::vector<WireTensor>& a, const std::vector<WireTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].datatype != b[i].datatype || a[i].shape != b[i].shape ||
        a[i].data.size() != b[i].data.size())
      return false;
    if (!a[i].data.empty() &&
        std::memcmp(a[i].data.data(), b[i].data.data(), a[i].data.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

bool same_request(const InferRequest& a, const InferRequest& b) {
  return a.model == b.model && a.id == b.id && a.outputs == b.outputs &&
         a.binary_output == b.binary_output && same_tensors(a.inputs, b.inputs);
}

void check_request(const InferRequest& r) {
  for (const WireTensor& t : r.inputs) check_tensor(t);
}

// A parsed HTTP request, written by the load generator's writer and parsed again.
void http_round_trip(const InferRequest& r, const char* what) {
  const HttpBody again = write_infer_request(r);
  InferRequest back;
  try {
    back = parse_infer_request(again.body, again.json_length, r.model);
  } catch (const ServeError& e) {
    finding(what, std::string("the written request does not parse: ") + e.what());
  }
  if (!same_request(r, back)) finding(what, "the written request parses to another request");
}

void http_request(std::string_view body, std::optional<size_t> json_length) {
  const InferRequest r = parse_infer_request(body, json_length, "m");
  check_request(r);
  http_round_trip(r, "HTTP request round trip");
}

void http_response(std::string_view body, std::optional<size_t> json_length) {
  const InferResponse r = parse_infer_response(body, json_length);
  for (const WireTensor& t : r.outputs) check_tensor(t);
  // Binary: JSON cannot carry a NaN the binary part held.
  const HttpBody again = write_infer_response(r, true);
  InferResponse back;
  try {
    back = parse_infer_response(again.body, again.json_length);
  } catch (const ServeError& e) {
    finding("HTTP response round trip",
            std::string("the written response does not parse: ") + e.what());
  }
  if (back.model != r.model || back.version != r.version || back.id != r.id ||
      !same_tensors(back.outputs, r.outputs))
    finding("HTTP response round trip", "the written response parses to another response");
}

// "<decimal length>\n<body>": the header as the HTTP server reads it, then the body.
void http_with_header(std::string_view rest, bool request) {
  const size_t eol = rest.find('\n');
  if (eol == std::string_view::npos) return;
  const std::string header(rest.substr(0, eol));
  const std::string_view body = rest.substr(eol + 1);
  const std::optional<size_t> json_length = parse_json_length(header, body.size());
  if (request)
    http_request(body, json_length);
  else
    http_response(body, json_length);
}

void grpc_request(std::string_view bytes, bool over_http) {
  inference::ModelInferRequest message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const InferRequest r = from_proto(message);
  check_request(r);
  inference::ModelInferRequest again;
  to_proto(r, again);
  InferRequest back;
  try {
    back = from_proto(again);
  } catch (const ServeError& e) {
    finding("gRPC request round trip",
            std::string("the written message does not convert: ") + e.what());
  }
  if (!same_request(r, back) || back.version != r.version)
    finding("gRPC request round trip", "the written message converts to another request");
  if (over_http) {
    InferRequest binary = r;
    for (WireTensor& t : binary.inputs) t.binary = true;
    http_round_trip(binary, "gRPC request sent over HTTP");
  }
}

void grpc_response(std::string_view bytes) {
  inference::ModelInferResponse message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const InferResponse r = from_proto(message);
  for (const WireTensor& t : r.outputs) check_tensor(t);
  inference::ModelInferResponse again;
  to_proto(r, again);
  InferResponse back;
  try {
    back = from_proto(again);
  } catch (const ServeError& e) {
    finding("gRPC response round trip",
            std::string("the written message does not convert: ") + e.what());
  }
  if (back.model != r.model || back.version != r.version || back.id != r.id ||
      !same_tensors(back.outputs, r.outputs))
    finding("gRPC response round trip", "the written message converts to another response");
}

void header_only(std::string_view rest) {
  if (rest.size() < 4) return;
  uint32_t body_size = 0;
  std::memcpy(&body_size, rest.data(), sizeof(body_size));
  const std::optional<size_t> n = parse_json_length(std::string(rest.substr(4)), body_size);
  if (n && *n > body_size)
    finding("Inference-Header-Content-Length",
            "accepted " + std::to_string(*n) + " for a body of " + std::to_string(body_size));
}

}  // namespace

// Protobuf logs every message it refuses (invalid UTF-8 in a string field): noise here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 8) {
      case 0:
        http_request(rest, std::nullopt);
        break;
      case 1:
        http_with_header(rest, true);
        break;
      case 2:
        http_response(rest, std::nullopt);
        break;
      case 3:
        http_with_header(rest, false);
        break;
      case 4:
        grpc_request(rest, false);
        break;
      case 5:
        grpc_response(rest);
        break;
      case 6:
        header_only(rest);
        break;
      case 7:
        grpc_request(rest, true);
        break;
    }
  } catch (const ServeError&) {
    // The parsers' answer to bad input.
  } catch (const std::exception& e) {
    finding("an exception other than ServeError escaped", e.what());
  }
  return 0;
}
