// The advice of advise/advise.h as a report table (`infermark advise`, the report's "which
// framework wins where").
#pragma once

#include <vector>

#include "advise/advise.h"
#include "report/report.h"

namespace infermark {

// A Markdown table of recommendations.
Table advice_table(const std::vector<Recommendation>& recs);

}  // namespace infermark
