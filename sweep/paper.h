#pragma once

// The paper's study (`infermark paper`) as studies of sweep/study.h.

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "sweep/study.h"

namespace infermark {

class BackendRegistry;

// The paper's study on every available framework: Table 1 models and the ensemble, the
// batch sweep and single-stream in rounds, server with peak search, load time, memory;
// energy where measurable. Each part is a study appending to one result file, so rerunning
// continues.
std::vector<Study> paper_studies(bool quick, const std::vector<std::string>& backends,
                                 const std::filesystem::path& results);

// The frameworks to study: those of `only` (every one when empty) that are available here, the
// others named on `skipped` with why. Throws Error for a name the registry does not know, or
// when none is available.
std::vector<std::string> paper_backends(BackendRegistry& registry,
                                        const std::vector<std::string>& only, std::FILE* skipped);

}  // namespace infermark
