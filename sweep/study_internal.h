// Internal to sweep/: what the study's expansion (study.cc) takes from the model description
// (describe_model.cc).
#pragma once

#include <string>

#include "sweep/cell.h"
#include "zoo/zoo.h"

namespace infermark::study_internal {

// What a cell needs to know of a model, computed once in the parent. A model that cannot
// be read becomes {"name", "error"}: its cells are recorded as errors, the others run.
ModelRef describe_model(const std::string& name, const zoo::Options& options);

}  // namespace infermark::study_internal
