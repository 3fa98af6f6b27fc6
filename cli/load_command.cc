#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/peak_rule.h"
#include "core/result.h"
#include "core/text.h"
#include "load/measure.h"

namespace infermark::cli {
namespace {

namespace fs = std::filesystem;

struct LoadArgs {
  load::MeasureOptions m;
  std::string token_env = "INFERMARK_TOKEN";
};

// What the printed line says of a find-peak row's peak: the confirmed rate, or why none was.
std::string peak_text(const ResultRow& row) {
  if (!row.metrics.contains(metric::kPeakQps)) return "";
  if (row.metrics.value("peak_confirmed", false))
    return ", peak " + formatted(row.metric(metric::kPeakQps), "%.4g") + "/s (confirmed)";
  return ", no peak confirmed: " + row.metrics.value("peak_reason", std::string());
}

void run(const LoadArgs& args) {
  load::MeasureOptions o = args.m;
  if (const char* t = std::getenv(args.token_env.c_str())) o.token = t;
  const size_t failed = load::measure(o, [&](const ResultRow& row, double rate) {
    if (row.ok())
      std::printf(
          "%s %s %s: %lld queries, %lld ok, %lld rejected, %lld failed, %.1f/s, p50 %.2f "
          "ms, p99 %.2f ms%s\n",
          row.cell.arm.c_str(), o.model.c_str(),
          o.concurrency > 0 ? ("x" + std::to_string(o.concurrency)).c_str()
                            : (formatted(rate, "%.4g") + "/s").c_str(),
          static_cast<long long>(row.metrics[metric::kQueries].get<int64_t>()),
          static_cast<long long>(row.metrics["ok"].get<int64_t>()),
          static_cast<long long>(row.metrics["rejected"].get<int64_t>()),
          static_cast<long long>(row.metrics["failed"].get<int64_t>()),
          row.metric(metric::kAchievedQps), row.latency("p50"), row.latency("p99"),
          peak_text(row).c_str());
    else
      std::printf("%s %s: %s\n", row.cell.arm.c_str(), o.model.c_str(), row.message.c_str());
    std::fflush(stdout);
  });
  std::printf("wrote %s\n", o.out.c_str());
  const size_t runs = o.rates.empty() ? 1 : o.rates.size();
  if (failed > 0)
    throw Error(std::to_string(failed) + " of " + std::to_string(runs) +
                " runs ended in error (in " + o.out + ")");
}

}  // namespace

void add_load_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "load", "Send requests to a KServe v2 server (ours or another) and measure its latency");
  auto a = std::make_shared<LoadArgs>();
  cmd->add_option("--url", a->m.url,
                  "http://HOST:PORT or grpc://HOST:PORT; https:// or grpcs:// over TLS")
      ->required();
  cmd->add_option("--tls-ca", a->m.tls_ca,
                  "PEM certificate of the authority that signed the server's (https:// and "
                  "grpcs://; default: the system's)");
  cmd->add_option("--model", a->m.model, "The model's name on the server")->required();
  cmd->add_option("--rate", a->m.rates, "Open loop: offered rates, requests/s, comma-separated")
      ->delimiter(',');
  cmd->add_option("--concurrency", a->m.concurrency,
                  "Closed loop: this many clients, each sending when answered");
  cmd->add_option("--distribution", a->m.config.distribution,
                  "Open loop arrivals: poisson (default, seeded) or constant");
  cmd->add_option("--duration", a->m.config.duration_s, "Seconds of requests (default 10)");
  cmd->add_option("--min-queries", a->m.config.min_queries,
                  "At least this many requests (default 100)");
  cmd->add_option("--connections", a->m.config.connections,
                  "Open loop: requests in flight at most (default 64)");
  cmd->add_flag("--find-peak", a->m.find_peak,
                "Search, from --rate up, the highest rate whose p99 meets --slo-p99-ms over at "
                "least " +
                    std::to_string(kMinQueriesForP99) + " requests, every one answered and " +
                    formatted(100 * kMinAchievedFraction, "%g") +
                    "% of the rate achieved; the row is the run of the same length that "
                    "confirms it");
  cmd->add_option("--slo-p99-ms", a->m.slo_p99_ms, "p99 latency target of --find-peak, ms");
  cmd->add_option("--input", a->m.input,
                  "Images to send: an .npy [N, C, H, W], or a JPEG/PNG file or folder "
                  "(default: seeded N(0,1) values)");
  cmd->add_option("--preprocess", a->m.preprocess, "Preprocessing of --input images (as infer's)");
  cmd->add_option("--batch", a->m.batch, "Images per request without --input (default 1)");
  cmd->add_flag("--binary", a->m.binary, "HTTP: the binary tensor data extension (Triton's)");
  cmd->add_option("--token-env", a->token_env,
                  "Environment variable holding the bearer token (default INFERMARK_TOKEN)");
  cmd->add_option("--timeout", a->m.timeout_s, "Seconds a request may take (default 60)");
  cmd->add_option("--seed", a->m.config.seed, "Seed of the arrivals and inputs (default 1)");
  cmd->add_option("--arm", a->m.arm, "The result's arm (default: the transport)");
  cmd->add_option("--round", a->m.round, "The result's round (to pair with a bench round)");
  cmd->add_option("--out", a->m.out, "Result file, one JSON line per rate (default results.jsonl)");
  cmd->callback([a] { run(*a); });
}

}  // namespace infermark::cli
