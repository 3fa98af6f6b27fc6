// The KServe v2 parsers alone (serve/protocol.h): round trips, and what each refuses.
#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/serve/stack.h"

namespace infermark {
namespace {

using namespace serve_testing;  // NOLINT(google-build-using-namespace): the fixtures

// ---------------------------------------------------------------------------------------------
// Protocol: the parsers alone.

TEST(Protocol, JsonRequestRoundTrip) {
  InferRequest r = request_of({1.5F, -2.25F});
  r.id = "req-7";
  r.inputs[0].data[5] = 3.125F;
  r.outputs = {"output"};
  const serve::HttpBody body = serve::write_infer_request(r);
  EXPECT_FALSE(body.json_length.has_value());
  EXPECT_TRUE(json::parse(body.body).is_object());
  const InferRequest back = serve::parse_infer_request(body.body, body.json_length, "fake");
  EXPECT_EQ(back.model, "fake");
  EXPECT_EQ(back.id, "req-7");
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_EQ(back.inputs[0].name, "input");
  EXPECT_EQ(back.inputs[0].datatype, "FP32");
  EXPECT_EQ(back.inputs[0].shape, (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_FALSE(back.inputs[0].binary);
  EXPECT_EQ(back.inputs[0].data, r.inputs[0].data);
  EXPECT_EQ(back.outputs, (std::vector<std::string>{"output"}));
  EXPECT_FALSE(back.binary_output);
}

TEST(Protocol, BinaryRequestRoundTrip) {
  InferRequest r = request_of({1, 2, 3}, /*binary=*/true);
  // Values JSON text would not carry exactly, bit for bit through the binary part.
  r.inputs[0].data[0] = 1.0F / 3.0F;
  r.inputs[0].data[1] = std::numeric_limits<float>::denorm_min();
  r.inputs[0].data[2] = -0.0F;
  const serve::HttpBody body = serve::write_infer_request(r);
  ASSERT_TRUE(body.json_length.has_value());
  EXPECT_EQ(body.body.size(), *body.json_length + r.inputs[0].data.size() * sizeof(float));
  const json header = json::parse(body.body.substr(0, *body.json_length));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 3 * kPerImage * 4);
  const InferRequest back = serve::parse_infer_request(body.body, body.json_length, "fake");
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_TRUE(back.inputs[0].binary);
  EXPECT_TRUE(back.binary_output);
  EXPECT_EQ(back.inputs[0].shape, (std::vector<int64_t>{3, 3, 4, 4}));
  ASSERT_EQ(back.inputs[0].data.size(), r.inputs[0].data.size());
  EXPECT_EQ(std::memcmp(back.inputs[0].data.data(), r.inputs[0].data.data(),
                        r.inputs[0].data.size() * sizeof(float)),
            0);

  // A binary response round trip too.
  InferResponse resp;
  resp.model = "fake";
  resp.id = "x";
  resp.outputs.push_back({"output", "FP32", {1, 2}, {0.5F, -7.0F}, true});
  const serve::HttpBody out = serve::write_infer_response(resp, true);
  ASSERT_TRUE(out.json_length.has_value());
  const InferResponse rb = serve::parse_infer_response(out.body, out.json_length);
  EXPECT_EQ(rb.model, "fake");
  EXPECT_EQ(rb.id, "x");
  ASSERT_EQ(rb.outputs.size(), 1u);
  EXPECT_EQ(rb.outputs[0].data, (std::vector<float>{0.5F, -7.0F}));
}

TEST(Protocol, NestedDataArraysAccepted) {
  const std::string body = R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 3],
      "data": [[1, 2, 3], [4, [5, 6]]]}]})";
  const InferRequest r = serve::parse_infer_request(body, std::nullopt, "m");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // The count still has to match the shape, nested or flat.
  const std::string short_body = R"({"inputs": [{"name": "input", "datatype": "FP32",
      "shape": [2, 3], "data": [[1, 2, 3], [4, 5]]}]})";
  EXPECT_THROW(serve::parse_infer_request(short_body, std::nullopt, "m"), ServeError);
}

TEST(Protocol, NullParametersAndModelVersionAccepted) {
  const std::string body = R"({"id": null, "parameters": null, "model_version": null,
      "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "parameters": null,
                  "data": [1, 2]}],
      "outputs": [{"name": "output", "parameters": null}]})";
  const InferRequest r = serve::parse_infer_request(body, std::nullopt, "m");
  EXPECT_EQ(r.id, "");
  EXPECT_FALSE(r.binary_output);
  EXPECT_EQ(r.inputs[0].data, (std::vector<float>{1, 2}));
  EXPECT_EQ(r.outputs, (std::vector<std::string>{"output"}));
  // A server's response with null members (as some write them).
  const std::string response = R"({"model_name": "m", "model_version": null, "id": null,
      "parameters": null,
      "outputs": [{"name": "output", "datatype": "FP32", "shape": [1, 2], "parameters": null,
                   "data": [3, 4]}]})";
  const InferResponse rr = serve::parse_infer_response(response, std::nullopt);
  EXPECT_EQ(rr.model, "m");
  EXPECT_EQ(rr.version, "");
  EXPECT_EQ(rr.outputs[0].data, (std::vector<float>{3, 4}));
  // null is not a free pass for a wrongly typed member.
  EXPECT_THROW(serve::parse_infer_request(R"({"id": 5, "inputs": []})", std::nullopt, "m"),
               ServeError);
}

TEST(Protocol, JsonDeeperThanLimitRefused) {
  // Within the limit: data nested to the maximum rank.
  std::string ok_data = "1";
  for (size_t i = 0; i < serve::kMaxRank; ++i) ok_data = "[" + ok_data + "]";
  const std::string ok = R"({"inputs": [{"name": "input", "datatype": "FP32",
      "shape": [1, 1, 1, 1, 1, 1, 1, 1], "data": )" +
                         ok_data + "}]}";
  EXPECT_EQ(serve::parse_infer_request(ok, std::nullopt, "m").inputs[0].data,
            (std::vector<float>{1}));

  const int depth = serve::kMaxJsonDepth + 4;
  const std::string deep = R"({"inputs": )" + std::string(static_cast<size_t>(depth), '[') +
                           std::string(static_cast<size_t>(depth), ']') + "}";
  try {
    serve::parse_infer_request(deep, std::nullopt, "m");
    FAIL() << "a body nested " << depth << " deep was accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
  }
  // Far deeper (a stack-exhausting depth for a recursive parser) is refused the same way.
  const std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THROW(serve::parse_infer_request(very_deep, std::nullopt, "m"), ServeError);
}

TEST(Protocol, HeaderLengthLongerThanBodyRefused) {
  InferRequest r = request_of({1}, true);
  const serve::HttpBody body = serve::write_infer_request(r);
  ASSERT_TRUE(body.json_length.has_value());
  EXPECT_EQ(serve::parse_json_length(std::to_string(*body.json_length), body.body.size()),
            body.json_length);
  EXPECT_EQ(serve::parse_json_length("", 10), std::nullopt);
  try {
    serve::parse_json_length(std::to_string(body.body.size() + 1), body.body.size());
    FAIL() << "a JSON length past the body was accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("Inference-Header-Content-Length"), std::string::npos);
  }
  EXPECT_THROW(serve::parse_json_length("12x", 100), ServeError);
  EXPECT_THROW(serve::parse_json_length("-1", 100), ServeError);
  EXPECT_THROW(serve::parse_json_length("99999999999999999999999999", 100), ServeError);
  // The parser itself refuses a length past the body.
  EXPECT_THROW(serve::parse_infer_request(body.body, body.body.size() + 1, "fake"), ServeError);
}

// A binary request with `bytes` declared and `payload` appended.
std::string binary_body(size_t declared, size_t payload, std::optional<size_t>* json_length) {
  const std::string head = R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
      "parameters": {"binary_data_size": )" +
                           std::to_string(declared) + "}}]}";
  *json_length = head.size();
  return head + std::string(payload, '\0');
}

TEST(Protocol, BinaryDataSizeNotMatchingShapeRefused) {
  std::optional<size_t> len;
  std::string body = binary_body(16, 16, &len);
  EXPECT_EQ(serve::parse_infer_request(body, len, "m").inputs[0].data.size(), 4u);
  body = binary_body(12, 12, &len);
  try {
    serve::parse_infer_request(body, len, "m");
    FAIL() << "12 bytes for FP32 [1, 4] were accepted";
  } catch (const ServeError& e) {
    EXPECT_NE(std::string(e.what()).find("16 bytes of FP32 shape [1, 4]"), std::string::npos)
        << e.what();
  }
  // Declared past what the body holds.
  body = binary_body(16, 8, &len);
  EXPECT_THROW(serve::parse_infer_request(body, len, "m"), ServeError);
}

TEST(Protocol, ExtraTrailingBinaryBytesRefused) {
  std::optional<size_t> len;
  const std::string body = binary_body(16, 20, &len);
  try {
    serve::parse_infer_request(body, len, "m");
    FAIL() << "4 trailing bytes were accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("4 bytes of binary data"), std::string::npos) << e.what();
  }
}

TEST(Protocol, ValueOutsideFp32RangeRefused) {
  auto body = [](const std::string& value) {
    return R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2],
        "data": [1, )" +
           value + "]}]}";
  };
  EXPECT_FLOAT_EQ(serve::parse_infer_request(body("3.4e38"), std::nullopt, "m").inputs[0].data[1],
                  3.4e38F);
  for (const char* v : {"3.5e38", "-1e39", "1e308"}) {
    try {
      serve::parse_infer_request(body(v), std::nullopt, "m");
      FAIL() << v << " was accepted as FP32";
    } catch (const ServeError& e) {
      EXPECT_NE(std::string(e.what()).find("outside the FP32 range"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace infermark
