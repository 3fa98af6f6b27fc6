// The OpenCV plugin's reader of an ONNX file's interface (see onnx_reader.h): protobuf wire
// format read field by field, seeking over what it does not need (the weights).

#include "backends/opencv/onnx_reader.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backends/plugin.h"

namespace infermark::opencv_detail {
namespace {

namespace fs = std::filesystem;

// Reads protobuf wire format from a file, seeking over what it does not need (weights).
class ProtoReader {
 public:
  explicit ProtoReader(const fs::path& file) : in_(file, std::ios::binary) {
    std::error_code ec;
    size_ = fs::file_size(file, ec);
    if (!in_ || ec) throw Error("cannot open the file");
  }
  uint64_t pos() const { return pos_; }
  // One more node, name, initializer or dim read into memory (kMaxGraphEntries).
  void count_entry() {
    if (++entries_ > kMaxGraphEntries)
      throw Error("more than " + std::to_string(kMaxGraphEntries) +
                  " nodes, names and dims in the graph");
  }
  uint64_t size() const { return size_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const int c = in_.get();
      if (c == std::char_traits<char>::eof()) throw Error("truncated protobuf");
      ++pos_;
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    throw Error("malformed protobuf varint");
  }
  // The end offset of a length-delimited field whose tag was just read.
  uint64_t length_end(uint64_t end) {
    const uint64_t len = varint();
    if (len > end - pos_) throw Error("protobuf field runs past its message");
    return pos_ + len;
  }
  std::string bytes_until(uint64_t end) {
    if (end - pos_ > (1u << 20)) throw Error("protobuf string over 1 MiB");
    std::string s(end - pos_, '\0');
    in_.read(s.data(), static_cast<std::streamsize>(s.size()));
    if (!in_) throw Error("truncated protobuf");
    pos_ = end;
    return s;
  }
  void seek(uint64_t to) {
    in_.seekg(static_cast<std::streamoff>(to));
    if (!in_) throw Error("truncated protobuf");
    pos_ = to;
  }
  void skip(uint32_t wire, uint64_t end) {
    switch (wire) {
      case 0:
        varint();
        break;
      case 1:
        seek(checked(pos_ + 8, end));
        break;
      case 2:
        seek(length_end(end));
        break;
      case 5:
        seek(checked(pos_ + 4, end));
        break;
      default:
        throw Error("unsupported protobuf wire type " + std::to_string(wire));
    }
  }

 private:
  static uint64_t checked(uint64_t to, uint64_t end) {
    if (to > end) throw Error("protobuf field runs past its message");
    return to;
  }
  std::ifstream in_;
  uint64_t size_ = 0, pos_ = 0, entries_ = 0;
};

// Calls field(number, wire) for each field up to end; field returns false to skip it.
template <typename F>
void for_each_field(ProtoReader& r, uint64_t end, F&& field) {
  while (r.pos() < end) {
    const uint64_t tag = r.varint();
    const auto number = static_cast<uint32_t>(tag >> 3);
    const auto wire = static_cast<uint32_t>(tag & 7);
    if (!field(number, wire)) r.skip(wire, end);
  }
  if (r.pos() != end) throw Error("protobuf message overruns its length");
}

ValueInfo read_value_info(ProtoReader& r, uint64_t end) {
  ValueInfo v;
  for_each_field(r, end, [&](uint32_t f, uint32_t w) {
    if (f == 1 && w == 2) {  // ValueInfoProto.name
      v.name = r.bytes_until(r.length_end(end));
      return true;
    }
    if (f != 2 || w != 2) return false;  // ValueInfoProto.type
    const uint64_t type_end = r.length_end(end);
    for_each_field(r, type_end, [&](uint32_t f2, uint32_t w2) {
      if (f2 != 1 || w2 != 2) return false;  // TypeProto.tensor_type
      const uint64_t tensor_end = r.length_end(type_end);
      for_each_field(r, tensor_end, [&](uint32_t f3, uint32_t w3) {
        if (f3 == 1 && w3 == 0) {  // elem_type
          v.elem_type = static_cast<int>(r.varint());
          return true;
        }
        if (f3 != 2 || w3 != 2) return false;  // shape
        v.has_shape = true;
        const uint64_t shape_end = r.length_end(tensor_end);
        for_each_field(r, shape_end, [&](uint32_t f4, uint32_t w4) {
          if (f4 != 1 || w4 != 2) return false;  // TensorShapeProto.dim
          const uint64_t dim_end = r.length_end(shape_end);
          int64_t value = -1;
          std::string symbol;
          for_each_field(r, dim_end, [&](uint32_t f5, uint32_t w5) {
            if (f5 == 1 && w5 == 0) {
              value = static_cast<int64_t>(r.varint());
              return true;
            }
            if (f5 == 2 && w5 == 2) {
              symbol = r.bytes_until(r.length_end(dim_end));
              return true;
            }
            return false;
          });
          r.count_entry();
          v.dims.push_back(value);
          v.symbols.push_back(symbol);
          return true;
        });
        return true;
      });
      return true;
    });
    return true;
  });
  return v;
}

// A TensorProto's name (field 8) and element count from its dims (field 1, packed or not),
// seeking over its data.
struct TensorHeader {
  std::string name;
  int64_t elements = 1;
};

TensorHeader read_tensor_header(ProtoReader& r, uint64_t end) {
  TensorHeader t;
  auto dim = [&](uint64_t d) {
    const auto v = static_cast<int64_t>(d);
    if (v < 0 || (v > 0 && t.elements > INT64_MAX / v)) {
      t.elements = -1;
    } else if (t.elements >= 0) {
      t.elements *= v;
    }
  };
  for_each_field(r, end, [&](uint32_t f, uint32_t w) {
    if (f == 8 && w == 2) {
      t.name = r.bytes_until(r.length_end(end));
      return true;
    }
    if (f == 1 && w == 0) {
      dim(r.varint());
      return true;
    }
    if (f == 1 && w == 2) {
      const uint64_t dims_end = r.length_end(end);
      while (r.pos() < dims_end) dim(r.varint());
      if (r.pos() != dims_end) throw Error("protobuf packed dims overrun their length");
      return true;
    }
    return false;
  });
  return t;
}

// NodeProto: names, operator and domain; of the attributes only a Constant's "value" tensor
// dims (AttributeProto.name 1, .t 5), everything else sought over.
OnnxNode read_node(ProtoReader& r, uint64_t end) {
  OnnxNode n;
  int64_t value_elements = -1;
  for_each_field(r, end, [&](uint32_t f, uint32_t w) {
    if (w != 2) return false;
    if (f == 1 || f == 2) {
      r.count_entry();
      (f == 1 ? n.inputs : n.outputs).push_back(r.bytes_until(r.length_end(end)));
      return true;
    }
    if (f == 3 || f == 4 || f == 7) {
      (f == 3 ? n.name : f == 4 ? n.op_type : n.domain) = r.bytes_until(r.length_end(end));
      return true;
    }
    if (f != 5) return false;
    const uint64_t attr_end = r.length_end(end);
    std::string attr_name;
    int64_t elements = -1;
    for_each_field(r, attr_end, [&](uint32_t a, uint32_t aw) {
      if (a == 1 && aw == 2) {
        attr_name = r.bytes_until(r.length_end(attr_end));
        return true;
      }
      if (a == 5 && aw == 2) {
        elements = read_tensor_header(r, r.length_end(attr_end)).elements;
        return true;
      }
      return false;
    });
    if (attr_name == "value") value_elements = elements;
    return true;
  });
  if (n.op_type == "Constant") n.constant_elements = value_elements;
  return n;
}

// The main graph's interface, and with nodes also its nodes and initializers.
OnnxGraph read_graph(const fs::path& file, bool nodes) {
  ProtoReader r(file);
  OnnxGraph graph;
  std::vector<ValueInfo> inputs, outputs;
  bool graph_seen = false;
  for_each_field(r, r.size(), [&](uint32_t f, uint32_t w) {
    if (f != 7 || w != 2) return false;  // ModelProto.graph
    graph_seen = true;
    const uint64_t graph_end = r.length_end(r.size());
    for_each_field(r, graph_end, [&](uint32_t g, uint32_t gw) {
      if (gw != 2) return false;
      if (g == 11 || g == 12) {  // GraphProto.input, .output
        r.count_entry();
        ValueInfo v = read_value_info(r, r.length_end(graph_end));
        (g == 11 ? inputs : outputs).push_back(std::move(v));
        return true;
      }
      if (g == 5) {  // GraphProto.initializer
        r.count_entry();
        const TensorHeader t = read_tensor_header(r, r.length_end(graph_end));
        graph.initializers[t.name] = t.elements;
        return true;
      }
      if (g == 15) {  // GraphProto.sparse_initializer: its values tensor carries the name
        const uint64_t sparse_end = r.length_end(graph_end);
        for_each_field(r, sparse_end, [&](uint32_t s, uint32_t sw) {
          if (s != 1 || sw != 2) return false;
          r.count_entry();
          graph.initializers[read_tensor_header(r, r.length_end(sparse_end)).name] = -1;
          return true;
        });
        return true;
      }
      if (g == 1 && nodes) {  // GraphProto.node
        r.count_entry();
        graph.nodes.push_back(read_node(r, r.length_end(graph_end)));
        return true;
      }
      return false;
    });
    return true;
  });
  if (!graph_seen) throw Error("no graph in the file");
  for (auto& v : inputs)
    if (!graph.initializers.count(v.name)) graph.io.inputs.push_back(std::move(v));
  graph.io.outputs = std::move(outputs);
  if (!nodes) graph.initializers.clear();
  return graph;
}

}  // namespace

OnnxInterface read_onnx_interface(const fs::path& file) {
  return std::move(read_graph(file, false).io);
}

OnnxGraph read_onnx_graph(const fs::path& file) { return read_graph(file, true); }

std::string model_shape_string(const ValueInfo& v) {
  return v.has_shape ? infermark::model_shape_string(v.dims, v.symbols) : "[unknown shape]";
}

}  // namespace infermark::opencv_detail
