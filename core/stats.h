// Renamed core/model_stats.h (the model statistics of Table 1, not sample statistics, which
// are core/statistics.h). Kept only for cli/zoo_command.cc, whose include moves with the
// next change to cli/; then this file goes.
#pragma once

#include "core/model_stats.h"
