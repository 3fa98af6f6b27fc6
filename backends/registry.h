#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"

namespace infermark {

// Every framework this program knows, loaded as plugins on demand. Owns the loaded
// plugins; not a global, so that tests and several sweeps can each have their own.
class BackendRegistry {
 public:
  // What a framework prints on stdout and stderr (banners, warnings, its own log) while its
  // plugin is loaded and describes itself. kCapture keeps it off the terminal of a command
  // that only lists or checks frameworks (output() returns it); kPassThrough leaves it where
  // the process's output goes, for a process whose output is already a log (a sweep's cell).
  // Capturing redirects the process's file descriptors 1 and 2 meanwhile: do not load
  // plugins from two threads at once.
  enum class FrameworkOutput { kCapture, kPassThrough };

  // Folders holding libinfermark_backend_<name>.so, searched in order (default: the build's,
  // then those of $INFERMARK_PLUGIN_PATH, colon-separated). A plugin found there whose name
  // is not one of the study's frameworks is listed after them (tests add fakes this way).
  explicit BackendRegistry(std::vector<std::filesystem::path> plugin_dirs = default_plugin_dirs(),
                           FrameworkOutput framework_output = FrameworkOutput::kCapture);
  ~BackendRegistry();
  BackendRegistry(const BackendRegistry&) = delete;
  BackendRegistry& operator=(const BackendRegistry&) = delete;

  static std::vector<std::filesystem::path> default_plugin_dirs();

  // Names of every known backend, in a fixed order.
  std::vector<std::string> known() const;

  // Info of every known backend, loading each plugin to ask it; a plugin that cannot be
  // loaded is listed as not available with the reason (never throws for that).
  std::vector<BackendInfo> list();

  // The backend, loaded and available. Throws Error: unknown name (lists the known ones),
  // or not available (says why).
  Backend& get(const std::string& name);

  // The info of an available backend, asked once (throws as get()).
  const BackendInfo& info(const std::string& name);

  // What the framework printed while its plugin was loaded and described, when captured
  // (empty otherwise, or when it printed nothing).
  std::string output(const std::string& name);

 private:
  struct Plugin;
  Plugin& plugin(const std::string& name);
  const BackendInfo& describe(Plugin& p);
  std::vector<std::filesystem::path> dirs_;
  FrameworkOutput framework_output_;
  std::vector<std::string> extra_;  // plugins found in the folders beyond the known ones
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace infermark
