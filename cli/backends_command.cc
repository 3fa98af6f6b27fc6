#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/registry.h"
#include "cli/commands.h"

namespace infermark::cli {
namespace {

const char* type_name(SettingSpec::Type t) {
  switch (t) {
    case SettingSpec::Type::kBool:
      return "bool";
    case SettingSpec::Type::kInt:
      return "int";
    case SettingSpec::Type::kEnum:
      return "enum";
    case SettingSpec::Type::kPath:
      return "path";
    case SettingSpec::Type::kText:
      return "text";
  }
  return "?";
}

nlohmann::json to_json(const BackendInfo& b) {
  nlohmann::json settings = nlohmann::json::array();
  for (const auto& s : b.settings) {
    nlohmann::json j = {{"key", s.key},
                        {"type", type_name(s.type)},
                        {"default", s.default_value},
                        {"help", s.help}};
    if (s.type == SettingSpec::Type::kEnum) j["allowed"] = s.allowed;
    if (s.type == SettingSpec::Type::kInt) j["range"] = {s.min, s.max};
    if (!s.tune.empty()) j["tune"] = s.tune;
    settings.push_back(j);
  }
  const Capabilities& c = b.capabilities;
  nlohmann::json j = {{"name", b.name},
                      {"available", b.available},
                      {"version", b.version},
                      {"devices", b.devices},
                      {"capabilities",
                       {{"batches_natively", c.batches_natively},
                        {"dynamic_batch", c.dynamic_batch},
                        {"precisions", c.precisions},
                        {"concurrent_engines", c.concurrent_engines},
                        {"shared_requests", c.shared_requests}}},
                      {"settings", settings}};
  if (!b.available) j["reason"] = b.reason;
  return j;
}

// A framework's captured output under its entry, indented; nothing when it printed nothing.
void print_output(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first) std::cout << "  its output while loading:\n";
    first = false;
    std::cout << "    " << line << "\n";
  }
}

}  // namespace

void add_backends_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("backends", "Frameworks of this build: availability, versions, settings");
  auto json = std::make_shared<bool>(false);
  auto verbose = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->add_flag("-v,--verbose", *verbose,
                "Also show what each framework printed while loading (shown anyway for one "
                "that is not available)");
  cmd->callback([json, verbose] {
    // The frameworks' banners and warnings are kept off the terminal, and shown where they
    // can explain something.
    BackendRegistry registry;
    const auto list = registry.list();
    auto shown_output = [&](const BackendInfo& b) {
      return *verbose || !b.available ? registry.output(b.name) : std::string();
    };
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& b : list) {
        out.push_back(to_json(b));
        if (const std::string o = shown_output(b); !o.empty()) out.back()["output"] = o;
      }
      std::cout << out.dump(2) << "\n";
      return;
    }
    for (const auto& b : list) {
      if (!b.available) {
        std::cout << b.name << "  not available: " << b.reason << "\n";
        print_output(shown_output(b));
        std::cout << "\n";
        continue;
      }
      std::cout << b.name << " " << b.version << "  devices:";
      for (const auto& d : b.devices) std::cout << " " << d;
      std::cout << "\n";
      const Capabilities& c = b.capabilities;
      std::cout << "  batches: " << (c.batches_natively ? "natively" : "image by image") << ", "
                << (c.dynamic_batch ? "any size per engine" : "one size per engine (compiled)")
                << "; precisions:";
      for (const auto& p : c.precisions) std::cout << " " << p;
      std::cout << "; engines side by side: " << (c.concurrent_engines ? "yes" : "no")
                << "; requests on one loaded model: " << (c.shared_requests ? "yes" : "no") << "\n";
      for (const auto& s : b.settings) {
        std::string values;
        if (s.type == SettingSpec::Type::kEnum)
          for (const auto& v : s.allowed) values += (values.empty() ? "" : "|") + v;
        else if (s.type == SettingSpec::Type::kInt)
          values = std::to_string(s.min) + ".." + std::to_string(s.max);
        else
          values = type_name(s.type);
        std::string tried;
        for (const auto& v : s.tune) tried += (tried.empty() ? " tune: " : ",") + v;
        std::cout << "  " << b.name << "." << s.key << " = " << s.default_value << "  [" << values
                  << "]" << tried << "  " << s.help << "\n";
      }
      print_output(shown_output(b));
      std::cout << "\n";
    }
  });
}

}  // namespace infermark::cli
