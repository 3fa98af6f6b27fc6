#include "serve/protocol.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace infermark::serve {
namespace {

using nlohmann::json;

ServeError bad(const std::string& message) { return {Code::kInvalidArgument, message}; }

// The values of one tensor's "data", read straight into floats while the JSON is parsed:
// a DOM of a large tensor costs 16 bytes a number and a node per nested array, and a client
// chooses how many.
struct Captured {
  // In chunks, so that growing never holds a copy of all of it and twice its capacity: the
  // peak is the values twice (chunks, then take()'s vector), not three times.
  static constexpr size_t kChunk = size_t{1} << 16;
  std::vector<std::vector<float>> chunks;
  size_t size = 0;
  void push(float v) {
    if (chunks.empty() || chunks.back().size() == kChunk) {
      chunks.emplace_back();
      chunks.back().reserve(kChunk);
    }
    chunks.back().push_back(v);
    ++size;
  }
  std::vector<float> take() {
    std::vector<float> out;
    out.reserve(size);
    for (auto& c : chunks) {
      out.insert(out.end(), c.begin(), c.end());
      c = std::vector<float>();
    }
    return out;
  }
  bool not_a_number = false;  // a string, boolean, null or object among the values
  bool out_of_range = false;  // a number outside the FP32 range
};

// The JSON of a request or a response, parsed by SAX events in one linear pass with bounded
// memory: a DOM of everything but the tensors' data (at most kMaxJsonValues values, nested at
// most kMaxJsonDepth levels), and the data of inputs[i] and outputs[i] as floats (its DOM
// member "data" holds the index into `captured`). Refuses as soon as a bound is passed.
// (nlohmann's parse with a callback, used before, does work quadratic in an array's length
// when the array holds objects: a 4 MiB body of empty objects took minutes.)
class RequestJson {
 public:
  explicit RequestJson(const char* what) : what_(what) {}

  json root;
  std::vector<Captured> captured;

  // SAX events, as nlohmann::json::sax_parse calls them.
  bool null() { return scalar(nullptr); }
  bool boolean(bool v) { return scalar(v); }
  bool number_integer(json::number_integer_t v) { return number(static_cast<double>(v), v); }
  bool number_unsigned(json::number_unsigned_t v) { return number(static_cast<double>(v), v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return number(v, v); }
  bool string(json::string_t& v) { return scalar(std::move(v)); }
  bool binary(json::binary_t&) { return scalar(nullptr); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool key(json::string_t& k) {
    if (capture_depth_ > 0) return true;
    Level& top = levels_.back();
    top.key = k;
    slot_ = &(*top.node)[k];  // a repeated key: the last one counts, as in nlohmann's parse
    capture_next_ = top.kind == Kind::kTensor && k == "data";
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw bad(std::string("malformed JSON in the ") + what_ + ": " + e.what());
  }

 private:
  // What an open container is, for finding the tensors' data.
  enum class Kind { kRoot, kTensorList, kTensor, kOther };
  struct Level {
    json* node = nullptr;  // nullptr inside captured data
    Kind kind = Kind::kOther;
    std::string key;  // the member being read (objects)
  };

  void enter() {
    if (++depth_ > kMaxJsonDepth)
      throw bad("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  void count() {
    if (++values_ > kMaxJsonValues)
      throw bad(std::string("the ") + what_ + " holds more than " + std::to_string(kMaxJsonValues) +
                " JSON values outside tensor data");
  }
  // Where the next value goes in the DOM.
  json* place(json&& v) {
    count();
    if (levels_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& top = *levels_.back().node;
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  template <typename V>
  bool scalar(V&& v) {
    if (capture_depth_ > 0 || capture_next_) {
      begin_capture();
      captured.back().not_a_number = true;
      return true;
    }
    place(json(std::forward<V>(v)));
    return true;
  }
  template <typename V>
  bool number(double d, V v) {
    if (capture_depth_ > 0 || capture_next_) {
      begin_capture();
      Captured& c = captured.back();
      if (!(std::fabs(d) <= std::numeric_limits<float>::max()))
        c.out_of_range = true;
      else
        c.push(static_cast<float>(d));
      return true;
    }
    place(json(v));
    return true;
  }
  bool open(json::value_t type) {
    enter();
    if (capture_depth_ > 0 || capture_next_) {
      begin_capture();
      if (type == json::value_t::object) captured.back().not_a_number = true;
      ++capture_depth_;
      return true;
    }
    Kind kind = Kind::kOther;
    if (levels_.empty()) {
      kind = type == json::value_t::object ? Kind::kRoot : Kind::kOther;
    } else {
      const Level& parent = levels_.back();
      if (parent.kind == Kind::kRoot && type == json::value_t::array &&
          (parent.key == "inputs" || parent.key == "outputs"))
        kind = Kind::kTensorList;
      else if (parent.kind == Kind::kTensorList && type == json::value_t::object)
        kind = Kind::kTensor;
    }
    json* node = place(json(type));
    levels_.push_back({node, kind, {}});
    return true;
  }
  bool close() {
    --depth_;
    if (capture_depth_ > 0) {
      --capture_depth_;
      return true;
    }
    levels_.pop_back();
    return true;
  }
  void begin_capture() {
    if (!capture_next_) return;
    capture_next_ = false;
    captured.emplace_back();
    // The DOM's "data" member says where its values are.
    *slot_ = json(captured.size() - 1);
    count();
  }

  const char* what_;
  std::vector<Level> levels_;
  json* slot_ = nullptr;  // the object member the next value fills
  int depth_ = 0;
  int capture_depth_ = 0;  // > 0: inside a tensor's data
  bool capture_next_ = false;
  size_t values_ = 0;
};

RequestJson parse_json(std::string_view text, const char* what) {
  RequestJson doc(what);
  try {
    json::sax_parse(text.begin(), text.end(), &doc);
  } catch (const json::exception& e) {
    throw bad(std::string("malformed JSON in the ") + what + ": " + e.what());
  }
  return doc;
}

// A member's value; nullptr when absent or null (servers write "parameters": null).
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const json& object, const char* key, const std::string& where,
                         bool required) {
  const json* v = member(object, key);
  if (v == nullptr) {
    if (required) throw bad(where + " has no \"" + key + "\"");
    return {};
  }
  if (!v->is_string()) throw bad(where + " \"" + key + "\" must be a string");
  return v->get<std::string>();
}

std::vector<int64_t> shape_field(const json& t, const std::string& where) {
  const json* s = member(t, "shape");
  if (s == nullptr) throw bad(where + " has no \"shape\"");
  if (!s->is_array()) throw bad(where + " \"shape\" must be an array of integers");
  if (s->size() > kMaxRank)
    throw bad(where + " has rank " + std::to_string(s->size()) + ", more than " +
              std::to_string(kMaxRank));
  std::vector<int64_t> shape;
  for (const json& d : *s) {
    if (!d.is_number_integer()) throw bad(where + " \"shape\" must be an array of integers");
    shape.push_back(d.get<int64_t>());
  }
  checked_elements(shape, where);
  return shape;
}

// The parameters object's value of key, or nullptr.
const json* parameter(const json& t, const char* key, const std::string& where) {
  const json* p = member(t, "parameters");
  if (p == nullptr) return nullptr;
  if (!p->is_object()) throw bad(where + " \"parameters\" must be an object");
  return member(*p, key);
}

bool bool_parameter(const json& t, const char* key, const std::string& where) {
  const json* v = parameter(t, key, where);
  if (v == nullptr) return false;
  if (!v->is_boolean()) throw bad(where + " parameter \"" + key + "\" must be true or false");
  return v->get<bool>();
}

// Reads the tensors of "inputs" or "outputs", their data from JSON or from the binary part
// (consumed in order from *binary).
std::vector<WireTensor> read_tensors(RequestJson& parsed, const char* key, std::string_view& binary,
                                     bool required) {
  const json& doc = parsed.root;
  const json* list = member(doc, key);
  if (list == nullptr) {
    if (required) throw bad(std::string("the request has no \"") + key + "\"");
    return {};
  }
  if (!list->is_array()) throw bad(std::string("\"") + key + "\" must be an array");
  if (list->size() > kMaxTensors)
    throw bad(std::string("\"") + key + "\" lists " + std::to_string(list->size()) +
              " tensors, more than " + std::to_string(kMaxTensors));
  std::vector<WireTensor> tensors;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& t = (*list)[i];
    std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!t.is_object()) throw bad(where + " must be an object");
    WireTensor w;
    w.name = string_field(t, "name", where, true);
    where += " '" + w.name + "'";
    w.datatype = string_field(t, "datatype", where, true);
    w.shape = shape_field(t, where);
    const int64_t n = checked_elements(w.shape, where);
    const json* size = parameter(t, "binary_data_size", where);
    const json* data = member(t, "data");
    if (size != nullptr) {
      if (!size->is_number_unsigned())
        throw bad(where + " binary_data_size must be a non-negative integer");
      if (data != nullptr) throw bad(where + " has both \"data\" and binary_data_size");
      const auto bytes = size->get<uint64_t>();
      if (bytes > binary.size())
        throw bad(where + " binary_data_size " + std::to_string(bytes) + " runs past the " +
                  std::to_string(binary.size()) + " bytes of binary data left in the body");
      w.binary = true;
      if (w.datatype == "FP32") {
        if (bytes != static_cast<uint64_t>(n) * sizeof(float))
          throw bad(where + " binary_data_size " + std::to_string(bytes) + " is not the " +
                    std::to_string(n * 4) + " bytes of FP32 shape " + shape_string(w.shape));
        w.data.resize(static_cast<size_t>(n));
        if (n > 0) std::memcpy(w.data.data(), binary.data(), bytes);
      }
      binary.remove_prefix(bytes);
    } else if (data != nullptr) {
      // The values were read as the JSON was parsed (RequestJson): the member holds their index.
      Captured& values = parsed.captured.at(data->get<size_t>());
      if (w.datatype == "FP32") {
        if (values.not_a_number) throw bad(where + " \"data\" holds a value that is not a number");
        if (values.out_of_range)
          throw bad(where + " \"data\" holds a value outside the FP32 range");
        if (static_cast<int64_t>(values.size) != n)
          throw bad(where + " \"data\" has " + std::to_string(values.size) + " values; shape " +
                    shape_string(w.shape) + " needs " + std::to_string(n));
        w.data = values.take();
      }
    } else {
      throw bad(where + " has neither \"data\" nor binary_data_size");
    }
    tensors.push_back(std::move(w));
  }
  return tensors;
}

json tensor_header(const WireTensor& t) {
  return {{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}};
}

void split_body(std::string_view body, std::optional<size_t> json_length, std::string_view& text,
                std::string_view& binary) {
  if (json_length) {
    if (*json_length > body.size())
      throw bad("Inference-Header-Content-Length " + std::to_string(*json_length) +
                " is longer than the body's " + std::to_string(body.size()) + " bytes");
    text = body.substr(0, *json_length);
    binary = body.substr(*json_length);
  } else {
    text = body;
    binary = {};
  }
}

}  // namespace

int http_status(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kTooLarge:
      return 413;
    case Code::kOverloaded:
      return 429;
    case Code::kUnauthenticated:
      return 401;
    case Code::kUnavailable:
      return 503;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

const char* code_name(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kNotFound:
      return "not_found";
    case Code::kTooLarge:
      return "too_large";
    case Code::kOverloaded:
      return "overloaded";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

int64_t checked_elements(const std::vector<int64_t>& shape, const std::string& what) {
  if (shape.size() > kMaxRank)
    throw bad(what + " has rank " + std::to_string(shape.size()) + ", more than " +
              std::to_string(kMaxRank));
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw bad(what + " has a negative dimension in shape " + shape_string(shape));
    if (d > 0 && n > kMaxElements / d)
      throw bad(what + " shape " + shape_string(shape) + " has more than " +
                std::to_string(kMaxElements) + " elements");
    n *= d;
  }
  return n;
}

std::optional<size_t> parse_json_length(const std::string& header, size_t body_size) {
  if (header.empty()) return std::nullopt;
  size_t value = 0;
  for (char c : header) {
    if (c < '0' || c > '9' || value > body_size)
      throw bad("Inference-Header-Content-Length '" + header.substr(0, 32) +
                "' is not a length within the body's " + std::to_string(body_size) + " bytes");
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  if (value > body_size)
    throw bad("Inference-Header-Content-Length " + header + " is longer than the body's " +
              std::to_string(body_size) + " bytes");
  return value;
}

InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length,
                                 const std::string& model) {
  std::string_view text, binary;
  split_body(body, json_length, text, binary);
  RequestJson parsed = parse_json(text, "request");
  const json& doc = parsed.root;
  if (!doc.is_object()) throw bad("the request must be a JSON object");
  InferRequest r;
  r.model = model;
  r.id = string_field(doc, "id", "the request", false);
  r.binary_output = bool_parameter(doc, "binary_data_output", "the request");
  r.inputs = read_tensors(parsed, "inputs", binary, true);
  if (!binary.empty())
    throw bad(std::to_string(binary.size()) +
              " bytes of binary data in the body belong to no input's binary_data_size");
  if (const json* outputs = member(doc, "outputs")) {
    if (!outputs->is_array()) throw bad("\"outputs\" must be an array");
    if (outputs->size() > kMaxTensors) throw bad("\"outputs\" lists too many tensors");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const json& o = (*outputs)[i];
      const std::string where = "outputs[" + std::to_string(i) + "]";
      if (!o.is_object()) throw bad(where + " must be an object");
      r.outputs.push_back(string_field(o, "name", where, true));
      if (bool_parameter(o, "binary_data", where)) r.binary_output = true;
    }
  }
  return r;
}

size_t HttpBodyParts::size() const {
  size_t n = json.size();
  for (std::string_view b : binary) n += b.size();
  return n;
}

HttpBodyParts write_infer_request_parts(const InferRequest& request) {
  json doc = {{"inputs", json::array()}};
  if (!request.id.empty()) doc["id"] = request.id;
  HttpBodyParts out;
  for (const WireTensor& t : request.inputs) {
    json h = tensor_header(t);
    if (t.binary) {
      const size_t bytes = t.data.size() * sizeof(float);
      h["parameters"] = {{"binary_data_size", bytes}};
      out.binary.emplace_back(reinterpret_cast<const char*>(t.data.data()), bytes);
    } else {
      h["data"] = t.data;
    }
    doc["inputs"].push_back(std::move(h));
  }
  if (!request.outputs.empty()) {
    doc["outputs"] = json::array();
    for (const std::string& name : request.outputs) {
      json o = {{"name", name}};
      if (request.binary_output) o["parameters"] = {{"binary_data", true}};
      doc["outputs"].push_back(std::move(o));
    }
  } else if (request.binary_output) {
    doc["parameters"] = {{"binary_data_output", true}};
  }
  out.json = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!out.binary.empty() || request.binary_output) out.json_length = out.json.size();
  return out;
}

HttpBody write_infer_request(const InferRequest& request) {
  HttpBodyParts parts = write_infer_request_parts(request);
  HttpBody out;
  out.json_length = parts.json_length;
  const size_t size = parts.size();
  out.body = std::move(parts.json);
  out.body.reserve(size);
  for (std::string_view b : parts.binary) out.body.append(b);
  return out;
}

HttpBody write_infer_response(const InferResponse& response, bool binary) {
  json doc = {{"model_name", response.model},
              {"model_version", response.version},
              {"outputs", json::array()}};
  if (!response.id.empty()) doc["id"] = response.id;
  std::string data;
  for (const WireTensor& t : response.outputs) {
    json h = tensor_header(t);
    if (binary) {
      const size_t bytes = t.data.size() * sizeof(float);
      h["parameters"] = {{"binary_data_size", bytes}};
      data.append(reinterpret_cast<const char*>(t.data.data()), bytes);
    } else {
      h["data"] = t.data;
    }
    doc["outputs"].push_back(std::move(h));
  }
  HttpBody out;
  out.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  if (binary) {
    out.json_length = out.body.size();
    out.body += data;
  }
  return out;
}

InferResponse parse_infer_response(std::string_view body, std::optional<size_t> json_length) {
  std::string_view text, binary;
  split_body(body, json_length, text, binary);
  RequestJson parsed = parse_json(text, "response");
  const json& doc = parsed.root;
  if (!doc.is_object()) throw bad("the response must be a JSON object");
  if (const json* e = member(doc, "error"))
    throw ServeError(Code::kInternal, "the server answered an error: " +
                                          (e->is_string() ? e->get<std::string>() : e->dump()));
  InferResponse r;
  r.model = string_field(doc, "model_name", "the response", false);
  r.version = string_field(doc, "model_version", "the response", false);
  r.id = string_field(doc, "id", "the response", false);
  r.outputs = read_tensors(parsed, "outputs", binary, true);
  return r;
}

// Replacing invalid UTF-8: a message may quote what a client sent (a model name from the URL,
// the bytes a JSON parser stopped at), and nlohmann's dump() throws on invalid UTF-8.
std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace infermark::serve
