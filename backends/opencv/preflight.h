#pragma once

// The pre-flight: graph forms on which OpenCV 4.6's ONNX importer (cv::dnn::readNetFromONNX)
// crashes the process instead of throwing, recognized from the file before the importer is
// called so that the plugin refuses them (Unsupported) rather than crash. Each form is one
// reproduced with OpenCV 4.6.0 on a minimal graph:
//   - Equal, Greater or Less with every input constant at import time: SIGSEGV. The importer
//     folds such a comparison itself and crashes doing it. Constant at import time: an
//     initializer, a Constant node, any Shape (the importer computes shapes at import, a
//     symbolic batch included), and the outputs of the operators the importer folds when all
//     their inputs are constant (Unsqueeze, Squeeze with axes as an attribute, Concat, Gather
//     with one index, Cast, Reshape, Flatten, Slice, Transpose, Add, Sub, Mul, Div,
//     ConstantOfShape). PyTorch writes such a comparison for a dynamic batch, e.g. a vision
//     transformer's class token expanded to the batch: Shape -> Gather -> Unsqueeze -> Concat
//     -> Equal(.., [-1, -1, -1]) -> Where -> Expand. A comparison with an input computed at run
//     time imports. Not refused when an Identity or Neg of constants comes first: the importer
//     throws there (its own message), before it reaches the comparison.
// Nothing else is refused here; the importer's own exceptions are handled where it is called.

#include <string>

#include "backends/opencv/onnx_reader.h"

namespace infermark::opencv_detail {

// Whether this OpenCV is one on which the forms above were reproduced (4.6).
bool preflight_applies(int major, int minor);

// "" when the graph has none of the forms above, else what crashes and where: "OpenCV 4.6's
// importer crashes (SIGSEGV) on Equal with all inputs constant at import time (node ...)".
std::string importer_crash_form(const OnnxGraph& graph);

}  // namespace infermark::opencv_detail
