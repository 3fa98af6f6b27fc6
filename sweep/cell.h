#pragma once

#include <filesystem>
#include <string>

#include "core/result.h"

namespace infermark {

// Runs the cell in this process and returns its result row (status, metrics...). Never
// throws: framework errors become status error/unsupported, std::bad_alloc becomes oom.
ResultRow run_cell(const CellSpec& spec);

// The child side of the cell protocol (`infermark _cell --spec FILE --result FILE`): reads
// the spec, runs the cell, writes the result row atomically and returns the exit code below.
int run_cell_process(const std::filesystem::path& spec_file,
                     const std::filesystem::path& result_file);

// Exit codes of the child process that runs a cell, so that the parent can classify a cell
// even when the result file is missing.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 10;
inline constexpr int kExitUnsupported = 11;
inline constexpr int kExitOom = 12;

// The status an exit code of the child stands for; empty for codes that are not ours.
std::string status_of_exit_code(int code);

}  // namespace infermark
