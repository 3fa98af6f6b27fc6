#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

// The schema of one line of a result file (docs/results.md describes every field).
inline constexpr const char* kResultSchema = "infermark.result/1";

// Statuses a cell can end with. A failure is a result, never a lost cell.
inline constexpr const char* kStatuses[] = {"ok", "oom", "crash", "timeout", "unsupported",
                                            "error"};

// One cell of a study: everything a fresh process needs to run it, as JSON (so that it
// crosses the process boundary and lands in the result unchanged):
// {model: {name, path, hash, members?}, backend, settings, scenario, batch, threads,
//  repeat, limits {...}, server {...}, peak {...}, load {phase, cache_dir}}
using CellSpec = nlohmann::json;

// A stable key of a cell (what --resume compares): hex FNV-1a of the spec's canonical dump.
std::string cell_key(const CellSpec& spec);

// Runs the cell in this process and returns its result line (status, metrics...). Never
// throws: framework errors become status error/unsupported, std::bad_alloc becomes oom.
nlohmann::json run_cell(const CellSpec& spec);

// Exit codes of the child process that runs a cell (`infermark _cell`), so that the parent
// can classify a cell even when the result file is missing.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 10;
inline constexpr int kExitUnsupported = 11;
inline constexpr int kExitOom = 12;

}  // namespace infermark
