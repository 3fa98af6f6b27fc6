#include "backends/settings.h"

#include <algorithm>
#include <cctype>

#include "backends/cache.h"
#include "core/error.h"
#include "core/text.h"

namespace infermark {
namespace {

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : ", ") + x;
  return out;
}

}  // namespace

SettingAssignment parse_assignment(const std::string& text) {
  const auto eq = text.find('=');
  const auto dot = text.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq)
    throw Error("--set '" + text + "' is malformed: expected BACKEND.KEY=VALUE (e.g. " +
                "openvino.hint=latency)");
  return {text.substr(0, dot), text.substr(dot + 1, eq - dot - 1), text.substr(eq + 1)};
}

Settings validate_settings(const BackendInfo& backend, const Settings& given) {
  std::vector<std::string> keys;
  for (const auto& s : backend.settings) keys.push_back(s.key);
  for (const auto& [key, value] : given)
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      throw Error("unknown setting '" + backend.name + "." + key + "' (valid: " + join(keys) + ")");

  Settings out;
  for (const auto& spec : backend.settings) {
    auto it = given.find(spec.key);
    std::string value = it == given.end() ? spec.default_value : it->second;
    const std::string name = backend.name + "." + spec.key;
    // Each concatenation in the switch builds the message of the Error it throws, once.
    // NOLINTBEGIN(performance-inefficient-string-concatenation)
    switch (spec.type) {
      case SettingSpec::Type::kBool: {
        const std::string v = lower(value);
        if (v == "true" || v == "1" || v == "on" || v == "yes") {
          value = "true";
        } else if (v == "false" || v == "0" || v == "off" || v == "no") {
          value = "false";
        } else {
          throw Error("setting " + name + "='" + value + "' is not a boolean (true or false)");
        }
        break;
      }
      case SettingSpec::Type::kInt: {
        size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size())
          throw Error("setting " + name + "='" + value + "' is not an integer");
        if (v < spec.min || v > spec.max)
          throw Error("setting " + name + "=" + value + " is out of range (" +
                      std::to_string(spec.min) + " to " + std::to_string(spec.max) + ")");
        value = std::to_string(v);
        break;
      }
      case SettingSpec::Type::kEnum:
        if (std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end())
          throw Error("setting " + name + "='" + value +
                      "' is not allowed (valid: " + join(spec.allowed) + ")");
        break;
      case SettingSpec::Type::kPath:
      case SettingSpec::Type::kText:  // free text the plugin checks itself at load
        break;
    }
    // NOLINTEND(performance-inefficient-string-concatenation)
    out[spec.key] = value;
  }
  return out;
}

void check_precision_name(const std::string& precision) {
  if (std::find(kPrecisions.begin(), kPrecisions.end(), precision) == kPrecisions.end())
    throw Error("precision '" + precision + "' is unknown (valid: fp32, bf16, fp16, int8)");
}

void check_capabilities(const BackendInfo& backend, const std::string& precision, int concurrency) {
  const auto& p = backend.capabilities.precisions;
  if (std::find(p.begin(), p.end(), precision) == p.end()) {
    std::string offered;
    for (const auto& x : p) offered += (offered.empty() ? "" : ", ") + x;
    // Why, where it is the CPU: bf16 is offered only where the CPU computes it.
    const std::string why = precision == "bf16" && !cpu_has_bf16()
                                ? "; this CPU has neither AVX512_BF16 nor AMX, and bf16 is not "
                                  "run as an emulation"
                                : "";
    throw Unsupported(backend.name + ": precision " + precision +
                      " is not offered on this machine (offered: " + offered + ")" + why);
  }
  if (concurrency > 1 && !backend.capabilities.concurrent_engines &&
      !backend.capabilities.shared_requests) {
    throw Unsupported(backend.name + ": concurrency " + std::to_string(concurrency) +
                      " needs engines that run side by side in one process, which " + backend.name +
                      " does not offer");
  }
}

}  // namespace infermark
