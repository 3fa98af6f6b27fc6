#include "serve/model_server.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>

#include "infermark/version.h"

namespace infermark::serve {
namespace {

using nlohmann::json;

constexpr Code kCodes[] = {Code::kInvalidArgument, Code::kNotFound,        Code::kTooLarge,
                           Code::kOverloaded,      Code::kUnauthenticated, Code::kUnavailable,
                           Code::kInternal};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ServeError bad(const std::string& message) { return {Code::kInvalidArgument, message}; }

// Prometheus label values: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void line(std::string& out, const std::string& metric, const std::string& labels, double value) {
  char number[64];
  std::snprintf(number, sizeof number, "%.17g", value);
  out += metric + "{" + labels + "} " + number + "\n";
}

}  // namespace

ServedModel::ServedModel(std::string name, std::vector<std::unique_ptr<Engine>> engines,
                         ModelSignature interface, BatchPolicy policy, json description)
    : name_(std::move(name)),
      engines_(std::move(engines)),
      interface_(std::move(interface)),
      policy_(policy),
      description_(std::move(description)),
      batch_sizes_(static_cast<size_t>(std::max<int64_t>(policy.max_batch, 1)) + 1) {
  if (engines_.empty()) throw Error("model '" + name_ + "' has no engine");
  if (policy_.max_batch < 1)
    throw Error("--max-batch " + std::to_string(policy_.max_batch) + " is invalid: must be >= 1");
  if (!(policy_.max_queue_delay_ms >= 0)) throw Error("--max-queue-delay-ms must be >= 0");
  if (policy_.max_queue < 1)
    throw Error("--max-queue " + std::to_string(policy_.max_queue) + " is invalid: must be >= 1");
  if (interface_.image_shape.size() != 3 || interface_.classes < 1)
    throw Error("model '" + name_ + "' has no image input [C, H, W] and scores output");
  for (Code c : kCodes) failures_[c] = 0;
  std::vector<int64_t> shape = {policy_.max_batch};
  shape.insert(shape.end(), interface_.image_shape.begin(), interface_.image_shape.end());
  batch_input_.resize(shape);
  // Without batching there is nothing to gather: a request runs on its caller's thread, in
  // arrival order, and no hand-off to a batcher thread and back (two thread wake-ups) is added
  // to its latency.
  if (policy_.max_batch > 1) thread_ = std::thread([this] { batcher(); });
}

ServedModel::~ServedModel() { close(); }

void ServedModel::close() {
  {
    std::unique_lock lock(mutex_);
    closing_ = true;
    // Without a batcher: the requests admitted run to their end on their own threads.
    if (!thread_.joinable()) turn_.wait(lock, [&] { return serving_ == next_ticket_; });
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Tensor ServedModel::images_of(InferRequest& request) const {
  if (request.inputs.size() != 1)
    throw bad("model '" + name_ + "' takes one input '" + interface_.input_name + "', got " +
              std::to_string(request.inputs.size()));
  WireTensor& in = request.inputs.front();
  if (in.name != interface_.input_name)
    throw bad("model '" + name_ + "' has no input '" + in.name + "'; its input is '" +
              interface_.input_name + "'");
  if (in.datatype != "FP32")
    throw bad("input '" + in.name + "' has datatype " + in.datatype + "; model '" + name_ +
              "' takes FP32");
  const auto& c = interface_.image_shape;
  if (in.shape.size() != 4 || in.shape[1] != c[0] || in.shape[2] != c[1] || in.shape[3] != c[2] ||
      in.shape[0] < 1)
    throw bad("input '" + in.name + "' has shape " + shape_string(in.shape) + "; model '" + name_ +
              "' takes [N, " + std::to_string(c[0]) + ", " + std::to_string(c[1]) + ", " +
              std::to_string(c[2]) + "] with N >= 1");
  if (in.shape[0] > policy_.max_batch)
    throw bad("input '" + in.name + "' holds " + std::to_string(in.shape[0]) + " images; model '" +
              name_ + "' takes at most " + std::to_string(policy_.max_batch) +
              " per request (its --max-batch)");
  for (const std::string& o : request.outputs)
    if (o != interface_.output_name)
      throw bad("model '" + name_ + "' has no output '" + o + "'; its output is '" +
                interface_.output_name + "'");
  Tensor t;
  t.shape = in.shape;
  t.data = std::move(in.data);
  return t;
}

void ServedModel::submit(Tensor images, std::function<void(Completion&&)> done) {
  if (!thread_.joinable()) {
    run_here(std::move(images), std::move(done));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (closing_) throw refused(Code::kUnavailable, 0);
    if (static_cast<int64_t>(queue_.size()) >= policy_.max_queue)
      throw refused(Code::kOverloaded, static_cast<int64_t>(queue_.size()));
    queued_images_ += images.shape[0];
    queue_.push_back({std::move(images), std::move(done), now_s()});
  }
  wake_.notify_one();
}

void ServedModel::run_here(Tensor images, std::function<void(Completion&&)> done) {
  std::vector<Pending> one;
  {
    std::unique_lock lock(mutex_);
    if (closing_) throw refused(Code::kUnavailable, 0);
    // Waiting: admitted, not yet running (one runs at a time).
    const int64_t waiting = static_cast<int64_t>(next_ticket_ - serving_);
    if (waiting > policy_.max_queue) throw refused(Code::kOverloaded, waiting - 1);
    const uint64_t ticket = next_ticket_++;
    one.push_back({std::move(images), std::move(done), now_s()});
    turn_.wait(lock, [&] { return serving_ == ticket; });
  }
  const int64_t n = one.front().images.shape[0];
  run_batch(one, n);
  {
    std::lock_guard lock(mutex_);
    ++serving_;
  }
  turn_.notify_all();
}

bool ServedModel::full() const { return queued() >= policy_.max_queue; }

void ServedModel::release_cached_memory() {
  for (auto& engine : engines_) engine->release_cached_memory();
}

void ServedModel::submit_refused() { throw refused(Code::kOverloaded, queued()); }

ServeError ServedModel::refused(Code code, int64_t waiting) {
  ++failures_[code];
  if (code == Code::kUnavailable) return ServeError(code, "model '" + name_ + "' is shutting down");
  return ServeError(code, "model '" + name_ + "' has " + std::to_string(waiting) +
                              " requests waiting, its --max-queue: try later");
}

int64_t ServedModel::queued() const {
  std::lock_guard lock(mutex_);
  // Without a batcher: the tickets given and not yet served, less the one running.
  if (!thread_.joinable())
    return next_ticket_ > serving_ ? static_cast<int64_t>(next_ticket_ - serving_) - 1 : 0;
  return static_cast<int64_t>(queue_.size());
}

void ServedModel::batcher() {
  const double delay_s = policy_.max_queue_delay_ms * 1e-3;
  std::vector<Pending> batch;
  for (;;) {
    int64_t images = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and nothing left
      const auto deadline = std::chrono::steady_clock::time_point(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(queue_.front().submitted_s + delay_s)));
      // Waits for the batch to fill, for the oldest request's deadline, or for shut-down
      // (which runs what waits without waiting more).
      wake_.wait_until(lock, deadline,
                       [&] { return closing_ || queued_images_ >= policy_.max_batch; });
      while (!queue_.empty() && images + queue_.front().images.shape[0] <= policy_.max_batch) {
        images += queue_.front().images.shape[0];
        queued_images_ -= queue_.front().images.shape[0];
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch, images);
    batch.clear();
  }
}

void ServedModel::run_batch(std::vector<Pending>& batch, int64_t images) {
  const double start = now_s();
  // A batch of one request runs on the request's own images; several are gathered into one
  // batch first.
  if (batch.size() > 1) {
    float* dst = batch_input_.data.data();
    for (const Pending& p : batch) {
      std::memcpy(dst, p.images.data.data(), p.images.data.size() * sizeof(float));
      dst += p.images.data.size();
    }
  }
  std::string error;
  try {
    const TensorView in =
        batch.size() == 1 ? view(batch.front().images) : view(batch_input_, images);
    for (size_t m = 0; m < engines_.size(); ++m) {
      Tensor& out = m == 0 ? batch_output_ : member_output_;
      engines_[m]->run(in, out);
      if (out.shape.size() != 2 || out.shape[0] != images || out.shape[1] != interface_.classes)
        throw Error("the framework gave output " + shape_string(out.shape) + ", not [" +
                    std::to_string(images) + ", " + std::to_string(interface_.classes) + "]");
      if (m > 0)
        for (size_t i = 0; i < out.data.size(); ++i) batch_output_.data[i] += out.data[i];
    }
    if (engines_.size() > 1) {
      const float k = 1.0F / static_cast<float>(engines_.size());
      for (size_t i = 0; i < static_cast<size_t>(images * interface_.classes); ++i)
        batch_output_.data[i] *= k;
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  const double end = now_s();
  batch_sizes_[static_cast<size_t>(images)] += 1;
  ++batches_;
  compute_us_ += static_cast<int64_t>((end - start) * 1e6);
  int64_t row = 0;
  for (Pending& p : batch) {
    Completion c;
    const int64_t n = p.images.shape[0];
    c.queue_ms = (start - p.submitted_s) * 1e3;
    c.compute_ms = (end - start) * 1e3;
    c.batch = images;
    queue_us_ += static_cast<int64_t>(c.queue_ms * 1e3);
    request_compute_us_ += static_cast<int64_t>(c.compute_ms * 1e3);
    if (error.empty()) {
      c.output.resize({n, interface_.classes});
      std::memcpy(c.output.data.data(), batch_output_.data.data() + row * interface_.classes,
                  c.output.data.size() * sizeof(float));
      ++succeeded_;
      images_ += n;
    } else {
      c.error = "model '" + name_ + "': " + error;
      ++failures_[Code::kInternal];
    }
    row += n;
    // A callback that throws must not end the batcher: the request is answered either way.
    try {
      p.done(std::move(c));
    } catch (...) {
    }
  }
}

json ServedModel::metadata() const {
  std::vector<int64_t> in = {-1}, out = {-1, interface_.classes};
  in.insert(in.end(), interface_.image_shape.begin(), interface_.image_shape.end());
  json m = {
      {"name", name_},
      {"versions", {"1"}},
      {"platform", description_.value("framework", std::string("infermark"))},
      {"inputs", {{{"name", interface_.input_name}, {"datatype", "FP32"}, {"shape", in}}}},
      {"outputs", {{{"name", interface_.output_name}, {"datatype", "FP32"}, {"shape", out}}}}};
  json p = description_;
  p["max_batch"] = policy_.max_batch;
  p["max_queue_delay_ms"] = policy_.max_queue_delay_ms;
  p["max_queue"] = policy_.max_queue;
  m["parameters"] = p;
  return m;
}

void ServedModel::count_failure(Code code) { ++failures_[code]; }

int64_t ServedModel::failed() const {
  int64_t n = 0;
  for (const auto& [code, count] : failures_) n += count.load();
  return n;
}

ModelStats ServedModel::stats() const {
  ModelStats s;
  s.succeeded = succeeded_;
  s.images = images_;
  s.batches = batches_;
  s.queue_s = static_cast<double>(queue_us_) * 1e-6;
  s.compute_s = static_cast<double>(compute_us_) * 1e-6;
  s.request_compute_s = static_cast<double>(request_compute_us_) * 1e-6;
  for (const auto& n : batch_sizes_) s.batch_sizes.push_back(n.load());
  return s;
}

void ServedModel::write_metrics(std::string& out) const {
  const std::string m = "model=\"" + label(name_) + "\"";
  line(out, "infermark_requests_total", m + ",result=\"ok\"", static_cast<double>(succeeded_));
  for (const auto& [code, n] : failures_)
    line(out, "infermark_requests_total", m + ",result=\"" + code_name(code) + "\"",
         static_cast<double>(n.load()));
  line(out, "infermark_images_total", m, static_cast<double>(images_));
  line(out, "infermark_batches_total", m, static_cast<double>(batches_));
  line(out, "infermark_queue_seconds_total", m, static_cast<double>(queue_us_) * 1e-6);
  line(out, "infermark_compute_seconds_total", m, static_cast<double>(compute_us_) * 1e-6);
  line(out, "infermark_queue_requests", m, static_cast<double>(queued()));
  for (size_t b = 1; b < batch_sizes_.size(); ++b)
    line(out, "infermark_batch_size_total", m + ",size=\"" + std::to_string(b) + "\"",
         static_cast<double>(batch_sizes_[b].load()));
}

InferResponse infer(ServedModel& model, InferRequest request) {
  Tensor images;
  try {
    images = model.images_of(request);
  } catch (const ServeError& e) {
    model.count_failure(e.code());
    throw;
  }
  std::promise<Completion> promise;
  std::future<Completion> future = promise.get_future();
  model.submit(std::move(images), [&promise](Completion&& c) { promise.set_value(std::move(c)); });
  Completion c = future.get();
  if (!c.error.empty()) throw ServeError(Code::kInternal, c.error);
  InferResponse r;
  r.model = model.name();
  r.id = request.id;
  WireTensor out;
  out.name = model.interface().output_name;
  out.datatype = "FP32";
  out.shape = c.output.shape;
  out.data = std::move(c.output.data);
  r.outputs.push_back(std::move(out));
  return r;
}

ModelServer::ModelServer(std::string token) : token_(std::move(token)) {
  for (Code c : kCodes) failures_[c] = 0;
}

void ModelServer::add(std::unique_ptr<ServedModel> model) {
  const std::string name = model->name();
  if (!models_.emplace(name, std::move(model)).second)
    throw Error("two models are named '" + name + "'");
}

ServedModel& ModelServer::model(const std::string& name) {
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::string known;
    for (const auto& [n, m] : models_) known += (known.empty() ? "" : ", ") + n;
    throw ServeError(Code::kNotFound, "no model '" + name + "' here; the models are: " + known);
  }
  return *it->second;
}

std::vector<std::string> ModelServer::names() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : models_) out.push_back(n);
  return out;
}

bool ModelServer::authorized(const std::string& authorization) const {
  if (token_.empty()) return true;
  const std::string want = "Bearer " + token_;
  unsigned char diff = authorization.size() == want.size() ? 0 : 1;
  for (size_t i = 0; i < want.size(); ++i)
    diff |= static_cast<unsigned char>(want[i] ^ (i < authorization.size() ? authorization[i] : 0));
  return diff == 0;
}

void ModelServer::shut_down() {
  ready_ = false;
  for (auto& [n, m] : models_) m->close();
}

json ModelServer::metadata() const {
  return {{"name", "infermark"}, {"version", kVersion}, {"extensions", {"binary_tensor_data"}}};
}

std::string ModelServer::metrics() const {
  std::string out =
      "# HELP infermark_requests_total Inference requests by model and result.\n"
      "# TYPE infermark_requests_total counter\n"
      "# HELP infermark_images_total Images inferred.\n"
      "# TYPE infermark_images_total counter\n"
      "# HELP infermark_batches_total Framework calls (batches).\n"
      "# TYPE infermark_batches_total counter\n"
      "# HELP infermark_queue_seconds_total Time requests waited for their batch.\n"
      "# TYPE infermark_queue_seconds_total counter\n"
      "# HELP infermark_compute_seconds_total Framework time of the batches.\n"
      "# TYPE infermark_compute_seconds_total counter\n"
      "# HELP infermark_queue_requests Requests waiting now.\n"
      "# TYPE infermark_queue_requests gauge\n"
      "# HELP infermark_batch_size_total Batches by their number of images.\n"
      "# TYPE infermark_batch_size_total counter\n";
  for (const auto& [n, m] : models_) m->write_metrics(out);
  for (const auto& [code, n] : failures_)
    line(out, "infermark_requests_total",
         std::string("model=\"\",result=\"") + code_name(code) + "\"",
         static_cast<double>(n.load()));
  return out;
}

void ModelServer::count_failure(Code code) { ++failures_[code]; }

void ModelServer::release_cached_memory() {
  for (auto& [name, m] : models_) m->release_cached_memory();
}

int64_t ModelServer::requests_seen() const {
  int64_t n = 0;
  for (const auto& [code, count] : failures_) n += count.load();
  for (const auto& [name, m] : models_) {
    const ModelStats s = m->stats();
    n += s.succeeded + m->failed();
  }
  return n;
}

InferResponse ModelServer::infer(InferRequest request) {
  if (!ready_) {
    count_failure(Code::kUnavailable);
    throw ServeError(Code::kUnavailable, "the server is shutting down");
  }
  ServedModel* m = nullptr;
  try {
    m = &model(request.model);
  } catch (const ServeError& e) {
    count_failure(e.code());
    throw;
  }
  return serve::infer(*m, std::move(request));
}

}  // namespace infermark::serve
