#include "core/result.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/hash.h"
#include "core/jsonl.h"
#include "core/metrics.h"
#include "core/peak_rule.h"

namespace infermark {
using nlohmann::json;

namespace {

// The value at `key` as T, or `fallback` when absent or null; a value of the wrong type is an
// Error naming the key.
template <typename T>
T get_or(const json& j, const char* key, T fallback) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  const auto wrong = [&] {
    return Error(std::string("field '") + key + "' is " + j[key].dump() + ", of the wrong type");
  };
  if (!converts_to<T>(j[key])) throw wrong();  // 1e300 where an integer belongs
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    throw wrong();
  }
}

json limits_json(const RunLimits& l) {
  return {{"warmup_s", l.warmup_s},
          {"warmup_iterations", l.warmup_iterations},
          {"min_duration_s", l.min_duration_s},
          {"min_iterations", l.min_iterations},
          {"max_duration_s", l.max_duration_s},
          {"cv_threshold", l.cv_threshold}};
}

RunLimits limits_from(const json& j) {
  RunLimits l;
  l.warmup_s = get_or(j, "warmup_s", l.warmup_s);
  l.warmup_iterations = get_or(j, "warmup_iterations", l.warmup_iterations);
  l.min_duration_s = get_or(j, "min_duration_s", l.min_duration_s);
  l.min_iterations = get_or(j, "min_iterations", l.min_iterations);
  l.max_duration_s = get_or(j, "max_duration_s", l.max_duration_s);
  l.cv_threshold = get_or(j, "cv_threshold", l.cv_threshold);
  return l;
}

json server_json(const ServerConfig& s) {
  return {{"rate_qps", s.rate_qps},
          {"max_batch", s.max_batch},
          {"max_queue_delay_ms", s.max_queue_delay_ms},
          {"duration_s", s.duration_s},
          {"min_queries", s.min_queries},
          {"seed", s.seed}};
}

ServerConfig server_from(const json& j) {
  ServerConfig s;
  s.rate_qps = get_or(j, "rate_qps", s.rate_qps);
  s.max_batch = get_or(j, "max_batch", s.max_batch);
  s.max_queue_delay_ms = get_or(j, "max_queue_delay_ms", s.max_queue_delay_ms);
  s.duration_s = get_or(j, "duration_s", s.duration_s);
  s.min_queries = get_or(j, "min_queries", s.min_queries);
  s.seed = get_or(j, "seed", s.seed);
  return s;
}

Settings settings_from(const json& j) {
  Settings s;
  if (!j.is_object()) return s;
  for (const auto& [k, v] : j.items()) s[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return s;
}

// The fields of a cell shared by a spec and a result line (a result line nests the backend).
void write_cell_fields(const CellSpec& c, json& j) {
  j["model"] = to_json(c.model);
  j["scenario"] = c.scenario;
  j["batch"] = c.batch;
  j["threads"] = c.threads;
  j["precision"] = c.precision;
  j["concurrency"] = c.concurrency;
  j["preparation"] = c.preparation;
  j["arm"] = c.arm;
  if (!c.transport.empty()) j["transport"] = c.transport;
  j["round"] = c.round;
  j["repeat"] = c.repeat;
  j["seed"] = c.seed;
  j["limits"] = limits_json(c.limits);
  if (c.server) j["server"] = server_json(*c.server);
  if (c.peak_slo_p99_ms) j["peak"] = {{metric::kSloP99Ms, *c.peak_slo_p99_ms}};
}

void read_cell_fields(const json& j, CellSpec& c) {
  c.model = model_from_json(j.value("model", json::object()));
  c.scenario = get_or<std::string>(j, "scenario", c.scenario);
  c.batch = get_or(j, "batch", c.batch);
  c.threads = get_or(j, "threads", c.threads);
  c.precision = get_or<std::string>(j, "precision", c.precision);
  c.concurrency = get_or(j, "concurrency", c.concurrency);
  c.preparation = get_or<std::string>(j, "preparation", c.preparation);
  c.arm = get_or<std::string>(j, "arm", c.arm);
  c.transport = get_or<std::string>(j, "transport", c.transport);
  c.round = get_or(j, "round", c.round);
  c.repeat = get_or(j, "repeat", c.repeat);
  c.seed = get_or(j, "seed", c.seed);
  c.limits = limits_from(j.value("limits", json::object()));
  if (j.contains("server") && j["server"].is_object()) c.server = server_from(j["server"]);
  if (j.contains("peak") && j["peak"].is_object())
    c.peak_slo_p99_ms = get_or(j["peak"], metric::kSloP99Ms, 100.0);
}

}  // namespace

double ModelRef::total_flops_per_image() const {
  if (members.empty()) return flops_per_image;
  double total = 0;
  for (const auto& m : members) total += m.flops_per_image;
  return total;
}

std::string ModelRef::first_error() const {
  if (!error.empty()) return error;
  for (const auto& m : members)
    if (!m.error.empty()) return m.error;
  return "";
}

json to_json(const ModelRef& m) {
  json j = {{"name", m.name}};
  if (!m.error.empty()) j["error"] = m.error;
  if (!m.path.empty()) j["path"] = m.path;
  if (!m.hash.empty()) j["hash"] = m.hash;
  if (m.file_bytes) j["file_bytes"] = m.file_bytes;
  if (!m.input_shape.empty()) j["input_shape"] = m.input_shape;
  if (m.parameters) j["parameters"] = m.parameters;
  if (m.flops_per_image) j["flops_per_image"] = m.flops_per_image;
  if (!m.stats.is_null()) j["stats"] = m.stats;
  if (!m.members.empty()) {
    j["members"] = json::array();
    for (const auto& member : m.members) j["members"].push_back(to_json(member));
  }
  return j;
}

ModelRef model_from_json(const json& j) {
  ModelRef m;
  m.name = get_or<std::string>(j, "name", "");
  m.path = get_or<std::string>(j, "path", "");
  m.hash = get_or<std::string>(j, "hash", "");
  m.file_bytes = get_or<int64_t>(j, "file_bytes", 0);
  m.input_shape = get_or(j, "input_shape", std::vector<int64_t>{});
  m.parameters = get_or<int64_t>(j, "parameters", 0);
  m.flops_per_image = get_or(j, "flops_per_image", 0.0);
  if (j.is_object() && j.contains("stats")) m.stats = j["stats"];
  if (j.is_object() && j.contains("members"))
    for (const auto& member : j["members"]) m.members.push_back(model_from_json(member));
  m.error = get_or<std::string>(j, "error", "");
  return m;
}

json to_json(const CellSpec& c) {
  json j = {{"backend", c.backend}, {"settings", c.settings}};
  write_cell_fields(c, j);
  if (!c.load_phase.empty()) j["load"] = {{"phase", c.load_phase}, {"cache_dir", c.load_cache_dir}};
  if (c.peak_fp32_flops > 0) j["peak_fp32_flops"] = c.peak_fp32_flops;
  return j;
}

CellSpec cell_from_json(const json& j) {
  if (!j.is_object()) throw Error("a cell is a JSON object, not " + j.dump());
  if (!j.contains("backend") || !j["backend"].is_string())
    throw Error("the cell names no backend (field 'backend')");
  CellSpec c;
  c.backend = j["backend"].get<std::string>();
  c.settings = settings_from(j.value("settings", json::object()));
  read_cell_fields(j, c);
  if (j.contains("load") && j["load"].is_object()) {
    c.load_phase = get_or<std::string>(j["load"], "phase", "");
    c.load_cache_dir = get_or<std::string>(j["load"], "cache_dir", "");
  }
  c.peak_fp32_flops = get_or(j, "peak_fp32_flops", 0.0);
  return c;
}

std::string dimension_value(const CellSpec& c, const std::string& d) {
  if (d == "model") return c.model.name;
  if (d == "backend") return c.backend;
  if (d == "settings") {
    std::string s;
    for (const auto& [k, v] : c.settings)
      s.append(s.empty() ? "" : " ").append(k).append("=").append(v);
    return s;
  }
  if (d == "scenario") return c.scenario;
  if (d == "batch") return std::to_string(c.batch);
  if (d == "threads") return std::to_string(c.threads);
  if (d == "precision") return c.precision;
  if (d == "concurrency") return std::to_string(c.concurrency);
  if (d == "preparation") return c.preparation;
  if (d == "arm") return c.arm;
  if (d == "transport") return c.transport.empty() ? "in-process" : c.transport;
  if (d == "server") return c.server ? server_json(*c.server).dump() : "";
  if (d == "peak") return c.peak_slo_p99_ms ? json(*c.peak_slo_p99_ms).dump() : "";
  throw Error("unknown dimension '" + d +
              "' (valid: model, backend, settings, scenario, batch, "
              "threads, precision, concurrency, preparation, arm, server, peak, transport)");
}

std::string identity(const CellSpec& c, const std::set<std::string>& without) {
  json id = json::object();
  for (const auto& d : kIdentityDimensions)
    // In process (no transport) is left out, so that identities of the rows written before
    // transports existed stay what they were.
    if (!without.count(d) && !(d == "transport" && c.transport.empty()))
      id[d] = dimension_value(c, d);
  for (const auto& d : without) dimension_value(c, d);  // an unknown name is an error
  return id.dump();
}

std::string cell_key(const CellSpec& c) {
  const json key = {{"identity", identity(c)},
                    {"round", c.round},
                    {"repeat", c.repeat},
                    {"seed", c.seed},
                    {"limits", limits_json(c.limits)},
                    {"model_hash", c.model.hash}};
  return hex64(fnv1a(key.dump()));
}

double ResultRow::metric(const std::string& key) const {
  return metrics.is_object() && metrics.contains(key) && metrics[key].is_number()
             ? metrics[key].get<double>()
             : NAN;
}

double ResultRow::latency(const std::string& key) const {
  return latency_ms.is_object() && latency_ms.contains(key) && latency_ms[key].is_number()
             ? latency_ms[key].get<double>()
             : NAN;
}

std::string ResultRow::settings_text() const { return dimension_value(cell, "settings"); }

std::string ResultRow::label(bool with_concurrency) const {
  std::vector<std::string> parts;
  if (!cell.settings.empty()) parts.push_back(settings_text());
  if (cell.precision != "fp32") parts.push_back(cell.precision);
  if (cell.threads != 0)
    parts.push_back(std::string("threads ").append(std::to_string(cell.threads)));
  if (with_concurrency && cell.concurrency != 1)
    parts.push_back(std::string("x").append(std::to_string(cell.concurrency)));
  if (!cell.arm.empty()) parts.push_back(std::string("arm ").append(cell.arm));
  if (!cell.transport.empty()) parts.push_back(std::string("over ").append(cell.transport));
  if (!machine.empty()) parts.push_back(std::string("on ").append(machine));
  std::string l = cell.backend;
  for (size_t i = 0; i < parts.size(); ++i) {
    l.append(i == 0 ? " (" : " ");
    l.append(parts[i]);
  }
  if (!parts.empty()) l.append(")");
  return l;
}

json to_json(const ResultRow& r) {
  json j = {{"schema", r.schema}, {"cell_key", r.cell_key}, {"time_utc", r.time_utc}};
  j["backend"] = {{"name", r.cell.backend},
                  {"version", r.backend_version},
                  {"settings_asked", r.cell.settings},
                  {"settings_in_effect", r.settings_in_effect}};
  write_cell_fields(r.cell, j);
  if (!r.precision_in_effect.empty()) j["precision_in_effect"] = r.precision_in_effect;
  if (r.batched) j["batched"] = *r.batched;
  if (!r.prepared.empty()) j["prepared"] = r.prepared;
  j["status"] = r.status;
  if (!r.message.empty()) j["message"] = r.message;
  if (!r.warning.empty()) j["warning"] = r.warning;
  if (!r.output_tail.empty()) j["output_tail"] = r.output_tail;
  j["latency_ms"] = r.latency_ms;
  j["metrics"] = r.metrics;
  j["wall_s"] = r.wall_s;
  j["node"] = r.node;
  j["env"] = r.env;
  return j;
}

ResultRow row_from_json(const json& j) {
  if (!j.is_object()) throw Error("not a JSON object");
  if (!j.contains("status") || !j["status"].is_string()) throw Error("no 'status'");
  if (!j.contains("backend") || !j["backend"].is_object()) throw Error("no 'backend' object");
  ResultRow r;
  r.schema = get_or<std::string>(j, "schema", kResultSchemaV1);
  if (r.schema != kResultSchema && r.schema != kResultSchemaV1)
    throw Error("schema '" + r.schema + "' is not one this version reads (" + kResultSchema + ", " +
                kResultSchemaV1 + ")");
  r.cell_key = get_or<std::string>(j, "cell_key", "");
  r.time_utc = get_or<std::string>(j, "time_utc", "");
  const json& b = j["backend"];
  r.cell.backend = get_or<std::string>(b, "name", "");
  r.cell.settings = settings_from(b.value("settings_asked", json::object()));
  r.backend_version = get_or<std::string>(b, "version", "");
  r.settings_in_effect = b.value("settings_in_effect", json::object());
  read_cell_fields(j, r.cell);
  r.precision_in_effect = get_or<std::string>(j, "precision_in_effect", "");
  if (j.contains("batched") && j["batched"].is_boolean()) r.batched = j["batched"].get<bool>();
  r.prepared = j.value("prepared", json::object());
  r.status = j["status"].get<std::string>();
  r.message = get_or<std::string>(j, "message", "");
  r.warning = get_or<std::string>(j, "warning", "");
  r.output_tail = get_or<std::string>(j, "output_tail", "");
  r.latency_ms = j.value("latency_ms", json::object());
  r.metrics = j.value("metrics", json::object());
  r.wall_s = get_or(j, "wall_s", 0.0);
  r.env = j.value("env", json::object());
  r.node = get_or<std::string>(j, "node", get_or<std::string>(r.env, "hostname", ""));
  return r;
}

std::string identity(const ResultRow& r, const std::set<std::string>& without) {
  if (r.machine.empty()) return identity(r.cell, without);
  json id = json::parse(identity(r.cell, without));
  id["machine"] = r.machine;
  return id.dump();
}

std::string this_node() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string();
}

std::vector<ResultRow> read_results(const std::vector<std::filesystem::path>& files) {
  std::vector<ResultRow> rows;
  for (const auto& f : files) {
    std::vector<ResultRow> of_file = read_rows<ResultRow>({f}, "result", row_from_json);
    for (auto& r : of_file) r.source = f.string();
    rows.insert(rows.end(), std::make_move_iterator(of_file.begin()),
                std::make_move_iterator(of_file.end()));
  }
  mark_machines(rows);
  return rows;
}

std::string machine_of(const ResultRow& r) {
  if (!r.env.is_object() || !r.env.contains("cpu_model")) return "";
  std::string m = r.env.value("cpu_model", std::string());
  if (r.env.contains("cores_used") && r.env["cores_used"].is_number())
    m += ", " + std::to_string(r.env["cores_used"].get<int64_t>()) + " cores";
  return m;
}

void mark_machines(std::vector<ResultRow>& rows) {
  std::set<std::string> machines;
  for (const auto& r : rows)
    if (const std::string m = machine_of(r); !m.empty()) machines.insert(m);
  if (machines.size() < 2) return;
  for (auto& r : rows) {
    r.machine = machine_of(r);
    if (r.machine.empty()) r.machine = "unknown machine";
  }
}

Headline headline(const ResultRow& r) {
  Headline h;
  const double mean = r.latency("mean");
  auto half_ci = [&]() {
    const double lo = r.latency("ci95_low"), hi = r.latency("ci95_high");
    return mean > 0 && !std::isnan(lo) && !std::isnan(hi) ? (hi - lo) / 2 / mean : 0.0;
  };
  const std::string& scenario = r.cell.scenario;
  if (scenario == scenario::kSingleStream) {
    h.metric = "latency_p50_ms";
    h.value = r.latency("p50");
    h.higher_is_better = false;
    h.rel_half_ci = half_ci();
  } else if (scenario == scenario::kLoad) {
    h.metric = metric::kLoadColdMs;
    h.value = r.metric(metric::kLoadColdMs);
    h.higher_is_better = false;
  } else if (scenario == scenario::kServer && !std::isnan(r.metric(metric::kPeakQps))) {
    h.metric = metric::kPeakQps;
    h.value = confirmed_peak_qps(r);  // NaN where no full-length run held it
  } else if (scenario == scenario::kServer) {
    // At a fixed offered rate the throughput is that rate whenever the server keeps up: what
    // tells two configurations apart is the latency.
    h.metric = "latency_p50_ms";
    h.value = r.latency("p50");
    h.higher_is_better = false;
  } else {
    // Throughput is batch / mean iteration time: its relative interval is the mean's.
    h.metric = metric::kThroughputIps;
    h.value = r.metric(metric::kThroughputIps);
    h.rel_half_ci = half_ci();
  }
  h.ok = r.ok() && h.value > 0;
  return h;
}

void append_result(const std::filesystem::path& file, const ResultRow& row) {
  // One write under the file's lock (core/jsonl.h); text from outside is already valid UTF-8,
  // and anything that is not becomes U+FFFD rather than an exception that loses the row.
  append_line(file, to_json(row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

double confirmed_peak_qps(const ResultRow& r) {
  const double peak = r.metric(metric::kPeakQps);
  if (!(peak > 0)) return NAN;
  if (r.metrics.contains("peak_confirmed")) return r.metrics["peak_confirmed"] == true ? peak : NAN;
  // Written before peaks were confirmed: the row's own run was at the peak, judged here by the
  // same rule on its figures (its achieved share: achieved_qps over the nominal offered rate,
  // the drain included, the only one such a row has).
  const double offered = r.metric(metric::kOfferedQps);
  if (!(std::abs(offered - peak) <= 1e-9 * peak)) return NAN;
  RateFigures f;
  f.p99_ms = r.latency("p99");
  const double queries = r.metric(metric::kQueries), ok = r.metric("ok");
  f.queries = std::isnan(queries) ? 0 : static_cast<int64_t>(queries);
  f.answered = std::isnan(ok) ? f.queries : static_cast<int64_t>(ok);
  f.achieved_fraction = r.metric(metric::kAchievedQps) / offered;
  const double slo = r.cell.peak_slo_p99_ms.value_or(r.metric(metric::kSloP99Ms));
  return meets_rate_rule(f, slo).meets ? peak : NAN;
}

}  // namespace infermark
