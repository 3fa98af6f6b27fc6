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

}  // namespace infermark
