// LibTorch's ONNX interpreter (see onnx_to_torch.h): one step run on the slots' values, each a
// PyTorch (ATen) operator.

#include <ATen/ATen.h>

#include <vector>

#include "backends/libtorch/onnx_to_torch.h"
#include "backends/plugin.h"

namespace infermark::libtorch_detail {
namespace {

const at::Tensor& operand(const Operand& o, const std::vector<at::Tensor>& slots) {
  return o.slot >= 0 ? slots[static_cast<size_t>(o.slot)] : o.value;
}

std::vector<int64_t> reversed_axes(int64_t rank) {
  std::vector<int64_t> axes;
  for (int64_t d = rank; d-- > 0;) axes.push_back(d);
  return axes;
}
}  // namespace

at::Tensor execute(const Step& s, const std::vector<at::Tensor>& slots) {
  const at::Tensor& x = operand(s.in[0], slots);
  switch (s.op) {
    case Op::kConv: {
      const at::Tensor in = s.pre_pad.empty() ? x : at::constant_pad_nd(x, s.pre_pad, 0);
      return at::conv2d(in, s.weight, s.bias, s.stride, s.pad, s.dilation, s.group);
    }
    case Op::kBatchNorm:
      return at::batch_norm(x, s.weight, s.bias, s.mean, s.var, /*training=*/false,
                            /*momentum=*/0.0, s.eps, /*cudnn_enabled=*/false);
    case Op::kRelu:
      return at::relu(x);
    case Op::kSigmoid:
      return at::sigmoid(x);
    case Op::kMul:
      return at::mul(x, operand(s.in[1], slots));
    case Op::kAdd:
      return at::add(x, operand(s.in[1], slots));
    case Op::kConcat: {
      std::vector<at::Tensor> parts;
      parts.reserve(s.in.size());
      for (const auto& o : s.in) parts.push_back(operand(o, slots));
      return at::cat(parts, s.axis);
    }
    case Op::kMaxPool: {
      const at::Tensor in = s.pre_pad.empty() ? x : at::constant_pad_nd(x, s.pre_pad, s.pad_value);
      return at::max_pool2d(in, s.kernel, s.stride, s.pad, s.dilation, s.ceil_mode);
    }
    case Op::kAveragePool:
      return at::avg_pool2d(x, s.kernel, s.stride, s.pad, s.ceil_mode, s.count_include_pad);
    case Op::kGlobalAveragePool:
      return at::adaptive_avg_pool2d(x, {1, 1});
    case Op::kFlatten: {
      int64_t outer = 1;
      for (int64_t d = 0; d < s.axis; ++d) outer *= x.size(d);
      return x.reshape({outer, -1});
    }
    case Op::kGemm:
      // weight: [N, K], alpha folded in; bias: [N], beta folded in (or undefined).
      return at::linear(x, s.weight, s.bias);
    case Op::kReshape: {
      std::vector<int64_t> shape = s.shape;
      if (!s.allow_zero)
        for (size_t i = 0; i < shape.size(); ++i)
          if (shape[i] == 0) shape[i] = x.size(static_cast<int64_t>(i));
      return x.reshape(shape);
    }
    case Op::kPad:
      if (s.pad_mode == 1) return at::reflection_pad2d(x, s.pre_pad);
      if (s.pad_mode == 2) return at::replication_pad2d(x, s.pre_pad);
      return at::constant_pad_nd(x, s.pre_pad, s.pad_value);
    case Op::kTranspose:
      return x.permute(s.shape.empty() ? reversed_axes(x.dim()) : s.shape).contiguous();
    case Op::kReduceMean:
      return at::mean(x, s.shape, s.keepdims);
    case Op::kClip:
      return at::clamp(x, s.has_lo ? c10::optional<at::Scalar>(s.lo) : c10::nullopt,
                       s.has_hi ? c10::optional<at::Scalar>(s.hi) : c10::nullopt);
    case Op::kHardSigmoid:
      if (std::fabs(s.alpha - 1.0 / 6.0) < 1e-7 && s.beta == 0.5) return at::hardsigmoid(x);
      return at::clamp(x * s.alpha + s.beta, 0.0, 1.0);
    case Op::kHardSwish:
      return at::hardswish(x);
  }
  throw Error("libtorch: internal error: unknown step");
}

}  // namespace infermark::libtorch_detail
