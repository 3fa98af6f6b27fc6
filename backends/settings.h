#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/backend.h"

namespace infermark {

// One `--set BACKEND.KEY=VALUE` (VALUE may be a comma list where a command sweeps it).
struct SettingAssignment {
  std::string backend;
  std::string key;
  std::string value;
};

// Parses "backend.key=value"; throws Error naming the text when it is malformed.
SettingAssignment parse_assignment(const std::string& text);

// Checks values against the backend's specs and fills in defaults. Throws Error for an
// unknown key (listing the valid ones) or a bad value (listing the allowed values/range).
Settings validate_settings(const BackendInfo& backend, const Settings& given);

// The precisions a command may ask for.
inline const std::vector<std::string> kPrecisions = {"fp32", "bf16", "fp16", "int8"};
// Throws Error naming a precision that is none of kPrecisions.
void check_precision_name(const std::string& precision);

// What every command checks before it loads: the precision is one the framework offers here
// (Capabilities::precisions), and more than one request in flight needs engines that run side
// by side. Throws Unsupported with the reason, naming the framework.
void check_capabilities(const BackendInfo& backend, const std::string& precision,
                        int concurrency = 1);

}  // namespace infermark
