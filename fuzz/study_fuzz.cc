// libFuzzer target for study files: `infermark --config FILE bench`, the command line main.cc
// builds (CLI11's TOML reader, the bench command's options and its own parsing of --set and
// --memory-limit), the study's checks (Study::validate) and the expansion of its matrix into
// cells, which study_fuzz_stubs.cc's runner receives instead of running them. The input is the
// file's text; the seeds in fuzz/corpus/study/ are studies as users and `infermark tune` write
// them.
//
// CLI11's ParseError (a value of the wrong type, an unknown key) and Error (a value the study
// refuses) are the expected answers to a bad file. A finding is a crash, a sanitizer report, an
// allocation past libFuzzer's limit or a hang (a study whose matrix has no end), or any other
// exception: main.cc reports those as an internal error.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path file = infermark::fuzz::write_input("study.toml", data, size);
  // As main.cc's run() builds it, with the one command the file configures.
  CLI::App app{"infermark", "infermark"};
  app.require_subcommand(1);
  app.set_config("--config", "", "Read options from a TOML file (keys: COMMAND.OPTION)");
  infermark::cli::add_bench_command(app);
  std::vector<std::string> args = {"infermark", "--config", file.string(), "bench"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
    // A file CLI11 or the options refuse: main.cc says so and exits 2.
  } catch (const infermark::cli::ExitCode&) {
    // The command's exit code (a run the stubs say failed): main.cc exits with it.
  } catch (const infermark::Error&) {
    // A study the command refuses.
  } catch (const std::exception& e) {
    infermark::fuzz::finding("an exception other than Error or ParseError escaped", e.what());
  }
  return 0;
}
