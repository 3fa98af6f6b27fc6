// The whole result file flattened into CSV: one row per cell visit, the common columns.
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/metrics.h"
#include "report/report.h"

namespace infermark {

void write_csv(const std::vector<std::filesystem::path>& results,
               const std::filesystem::path& csv) {
  const std::vector<ResultRow> rows = read_results(results);
  std::ofstream out(csv);
  if (!out) throw Error("cannot write '" + csv.string() + "'");
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto num = [](double v) { return std::isnan(v) ? std::string() : nlohmann::json(v).dump(); };
  out << "model,backend,backend_version,settings,scenario,batch,threads,precision,concurrency,"
         "preparation,arm,round,repeat,node,status,throughput_ips,latency_mean_ms,latency_p50_ms,"
         "latency_p99_ms,latency_cv,stable,load_ms,load_cold_ms,load_warm_ms,rss_peak_bytes,"
         "energy_j,share_of_peak,message\n";
  for (const auto& r : rows) {
    const CellSpec& c = r.cell;
    const nlohmann::json& l = r.latency_ms;
    out << field(c.model.name) << "," << field(c.backend) << "," << field(r.backend_version) << ","
        << field(r.settings_text()) << "," << c.scenario << "," << c.batch << "," << c.threads
        << "," << field(c.precision) << "," << c.concurrency << "," << field(c.preparation) << ","
        << field(c.arm) << "," << c.round << "," << c.repeat << "," << field(r.node) << ","
        << r.status << "," << num(r.metric(metric::kThroughputIps)) << "," << num(r.latency("mean"))
        << "," << num(r.latency("p50")) << "," << num(r.latency("p99")) << ","
        << num(r.latency("cv")) << ","
        << (l.is_object() && l.contains("stable") ? l["stable"].dump() : "") << ","
        << num(r.metric("load_ms")) << "," << num(r.metric(metric::kLoadColdMs)) << ","
        << num(r.metric(metric::kLoadWarmMs)) << "," << num(r.metric(metric::kRssPeakBytes)) << ","
        << num(r.metric(metric::kEnergyJ)) << "," << num(r.metric(metric::kShareOfPeak)) << ","
        << field(r.message) << "\n";
  }
}

}  // namespace infermark
