#pragma once

// The boundary between the program and one framework. Each framework is a shared library
// (backends/<name>/), loaded only when asked for with its own dependencies, so that a
// missing or conflicting framework library never stops the program or another backend.
// A plugin defines exactly one entry point with INFERMARK_BACKEND_PLUGIN.

#include <sched.h>

#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/error.h"

namespace infermark {

// Reading settings that validate_settings has checked and normalized (bools are "true" or
// "false", ints are decimal, every key of the specs is present).
inline const std::string& setting(const Settings& s, const std::string& key) {
  auto it = s.find(key);
  if (it == s.end()) throw Error("setting '" + key + "' missing (not validated?)");
  return it->second;
}
inline bool setting_bool(const Settings& s, const std::string& key) {
  return setting(s, key) == "true";
}
inline int64_t setting_int(const Settings& s, const std::string& key) {
  return std::stoll(setting(s, key));
}

// What the info() of a framework that runs on the CPU starts from: its name, its version and
// the CPU as its device, not available until the plugin says so.
inline BackendInfo cpu_backend_info(std::string name, std::string version) {
  BackendInfo b;
  b.name = std::move(name);
  b.version = std::move(version);
  b.devices = {"cpu"};
  return b;
}

// Declaring settings in info().
inline SettingSpec enum_setting(std::string key, std::string def, std::vector<std::string> allowed,
                                std::string help) {
  return {std::move(key), SettingSpec::Type::kEnum, std::move(def), std::move(allowed), 0, 0,
          std::move(help)};
}
inline SettingSpec int_setting(std::string key, std::string def, int64_t min, int64_t max,
                               std::string help) {
  return {std::move(key), SettingSpec::Type::kInt, std::move(def), {}, min, max, std::move(help)};
}
inline SettingSpec bool_setting(std::string key, std::string def, std::string help) {
  return {std::move(key), SettingSpec::Type::kBool, std::move(def), {}, 0, 0, std::move(help)};
}
// Free text that the plugin checks itself when it loads (a compiler's feature list).
inline SettingSpec text_setting(std::string key, std::string def, std::string help) {
  return {std::move(key), SettingSpec::Type::kText, std::move(def), {}, 0, 0, std::move(help)};
}
inline SettingSpec path_setting(std::string key, std::string def, std::string help) {
  return {std::move(key), SettingSpec::Type::kPath, std::move(def), {}, 0, 0, std::move(help)};
}

// Declares the values `infermark tune` tries for the setting `key` of `specs` (SettingSpec::tune).
inline void tune_values(std::vector<SettingSpec>& specs, const std::string& key,
                        std::vector<std::string> values) {
  for (auto& s : specs)
    if (s.key == key) {
      s.tune = std::move(values);
      return;
    }
  throw Error("tune_values: no setting '" + key + "'");
}

// Adds the settings of the two thread pools of a framework that has them (ONNX Runtime,
// TensorFlow): the intra-op pool follows the harness (resolve_threads), the inter-op pool
// defaults to 1 thread. `intra` and `inter` say what each pool runs in that framework.
inline void add_two_pool_thread_settings(std::vector<SettingSpec>& settings,
                                         const std::string& intra, const std::string& inter) {
  settings.push_back(int_setting("intra_op_threads", "0", 0, 1024,
                                 intra + "; default 0: the harness's thread count (all usable "
                                         "cores when that is 0), the same for every framework"));
  settings.push_back(int_setting("inter_op_threads", "1", 0, 1024,
                                 inter + "; default 1: CNNs are chains, and a second pool as "
                                         "large as the first only competes with it; 0: all "
                                         "usable cores"));
}

// A framework's message on one line: runs of white space (newlines included) collapsed to
// one space, none at the ends.
inline std::string collapse_whitespace(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The start of every message of a failed load: "<backend>: cannot load '<model>': ".
inline std::string load_context(const char* backend, const std::filesystem::path& model) {
  return std::string(backend) + ": cannot load '" + model.string() + "': ";
}

// load_context for a model file that exists; Error "no such file" otherwise.
inline std::string model_file_context(const char* backend, const std::filesystem::path& model) {
  std::string context = load_context(backend, model);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec)) throw Error(context + "no such file");
  return context;
}

// The message of a framework's exception, as it is.
struct ExceptionText {
  std::string operator()(const std::exception& e, const std::string& /*context*/) const {
    return e.what();
  }
};

// Backend::load for a plugin whose own failures are already Error or Unsupported: anything
// else the framework throws becomes one Error naming the backend and the model file, with
// the text `message(e, context)` gives; `message` may throw an Error or Unsupported of its
// own for the framework's exception types (an operator it cannot compile).
template <class Load, class Message = ExceptionText>
std::unique_ptr<Engine> load_or_error(const char* backend, const std::filesystem::path& model,
                                      Load&& load, Message&& message = {}) {
  try {
    return load();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(load_context(backend, model) + "out of memory");
  } catch (const std::exception& e) {
    const std::string context = load_context(backend, model);
    throw Error(context + message(e, context));
  }
}

// A model's declared shape, a dimension < 0 shown by its symbolic name: "[batch, 3, 224, 224]".
inline std::string model_shape_string(const std::vector<int64_t>& dims,
                                      const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    if (dims[i] >= 0) {
      s += std::to_string(dims[i]);
    } else {
      s += (i < names.size() && !names[i].empty()) ? names[i] : "?";
    }
  }
  return s + "]";
}

// The input a run is given against the model's input (`whose`: "the model's"), its dims -1
// where free: Error naming both shapes unless every dimension is positive and fits, or when
// the input has no data.
inline void check_input(const char* backend, const TensorView& input,
                        const std::vector<int64_t>& dims, const std::vector<std::string>& symbols,
                        const std::string& input_name, const std::string& whose) {
  bool match = input.shape.size() == dims.size();
  for (size_t i = 0; match && i < dims.size(); ++i)
    match = input.shape[i] > 0 && (dims[i] < 0 || dims[i] == input.shape[i]);
  if (!match) {
    throw Error(std::string(backend) + ": input shape " + shape_string(input.shape) +
                " does not match " + whose + " input '" + input_name + "' " +
                model_shape_string(dims, symbols));
  }
  if (input.data == nullptr) throw Error(std::string(backend) + ": input has no data");
}

// The cores this process may run on (its affinity mask): what "threads 0" means in every
// backend, so that all frameworks get the same count.
inline int cores_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

// The harness's one thread policy, the same in every plugin: the framework's own thread
// setting when it is not 0, else the harness's count (LoadRequest::threads, --threads), else
// every core this process may use. A framework with two pools resolves its intra-op (compute)
// pool this way. `from` says which of the three decided ("setting", "harness" or "affinity"),
// reported as settings_in_effect's threads_from.
struct ThreadChoice {
  int threads;
  const char* from;
};
inline ThreadChoice resolve_threads(int64_t framework_setting, int harness_threads) {
  if (framework_setting > 0) return {static_cast<int>(framework_setting), "setting"};
  if (harness_threads > 0) return {harness_threads, "harness"};
  return {cores_available(), "affinity"};
}

}  // namespace infermark

// Bumped whenever core/backend.h changes shape; the loader refuses other versions.
#define INFERMARK_PLUGIN_ABI 9

extern "C" {
typedef int (*infermark_plugin_abi_fn)();
typedef infermark::Backend* (*infermark_create_backend_fn)();
}

// The macro defines two functions, which no parentheses can enclose.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define INFERMARK_BACKEND_PLUGIN(BackendClass)                                   \
  extern "C" __attribute__((visibility("default"))) int infermark_plugin_abi() { \
    return INFERMARK_PLUGIN_ABI;                                                 \
  }                                                                              \
  extern "C" __attribute__((visibility("default"))) infermark::Backend*          \
  infermark_create_backend() {                                                   \
    return new BackendClass();                                                   \
  }
// NOLINTEND(bugprone-macro-parentheses)
