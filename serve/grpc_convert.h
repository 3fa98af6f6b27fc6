#pragma once

// Conversions between the gRPC messages of serve/kserve_v2.proto and serve/protocol.h's
// structs, shared by the server (serve/grpc.cc), the load generator's client and the fuzz
// target. Every from_proto takes untrusted messages and throws ServeError.

#include "serve/kserve_v2.pb.h"
#include "serve/protocol.h"

namespace infermark::serve {

// A request message as the serving core takes it: FP32 tensors from raw_input_contents or
// fp32_contents. Throws ServeError kInvalidArgument naming what is wrong.
InferRequest from_proto(const inference::ModelInferRequest& message);
void to_proto(const InferRequest& request, inference::ModelInferRequest& message);
// A response message: the outputs' data in raw_output_contents (as Triton answers).
void to_proto(const InferResponse& response, inference::ModelInferResponse& message);
InferResponse from_proto(const inference::ModelInferResponse& message);

}  // namespace infermark::serve
