#pragma once

// The serving core, independent of the transports: models behind dynamic batchers with
// bounded queues, the server's metadata and readiness, and its Prometheus metrics. The HTTP
// (serve/http.h) and gRPC (serve/grpc.h) fronts parse requests into serve/protocol.h's
// structs and call ModelServer::infer from their own threads.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "serve/protocol.h"

namespace infermark::serve {

// What a served model takes and gives: images [N, C, H, W] in, scores [N, classes] out.
struct ModelSignature {
  std::string input_name = "input";
  std::vector<int64_t> image_shape;  // C, H, W
  std::string output_name = "output";
  int64_t classes = 0;
};

// The dynamic batcher of one model: a batch leaves when max_batch images wait or when the
// oldest request has waited max_queue_delay_ms (as the server scenario's, scenarios/server.cc).
// At most max_queue requests wait; one more is refused at once (kOverloaded: HTTP 429, gRPC
// RESOURCE_EXHAUSTED) instead of the queue growing.
struct BatchPolicy {
  int64_t max_batch = 8;  // images per framework call (and per request); 1: no batching
  double max_queue_delay_ms = 2;
  int64_t max_queue = 64;
};

// What became of one request, given to its callback on the batcher's thread.
struct Completion {
  Tensor output;  // [n, classes] when error is empty
  std::string error;
  double queue_ms = 0;    // from submission to its batch's start
  double compute_ms = 0;  // its batch's framework time
  int64_t batch = 0;      // images in the batch it ran in
};

// A served model's counters since it started.
struct ModelStats {
  int64_t succeeded = 0, images = 0, batches = 0;
  double queue_s = 0;                // summed over requests: waiting for their batch
  double compute_s = 0;              // summed over batches: the framework's calls
  double request_compute_s = 0;      // summed over requests: their batch's call
  std::vector<int64_t> batch_sizes;  // index: images in the batch
};

// One model (or ensemble: several engines, outputs averaged, the paper's ensemble) behind its
// batcher thread.
class ServedModel {
 public:
  // engines: one per member; each runs any batch of 1..max_batch images. description: what
  // the model metadata adds under "parameters" (framework, settings, files).
  ServedModel(std::string name, std::vector<std::unique_ptr<Engine>> engines,
              ModelSignature interface, BatchPolicy policy,
              nlohmann::json description = nlohmann::json::object());
  ~ServedModel();
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  const std::string& name() const { return name_; }
  const ModelSignature& interface() const { return interface_; }
  const BatchPolicy& policy() const { return policy_; }

  // The request's images, checked against the model (one input of its name, FP32, shape
  // [n, C, H, W] with 1 <= n <= max_batch, outputs asked by their name). Throws ServeError
  // kInvalidArgument saying what differs.
  Tensor images_of(InferRequest& request) const;
  // Queues images [n, C, H, W]; done runs once, on the batcher's thread (without batching: on
  // the caller's, before submit returns). Throws ServeError: kOverloaded when max_queue
  // requests wait, kUnavailable once closing.
  void submit(Tensor images, std::function<void(Completion&&)> done);
  // Stops admitting; what is queued still runs; then the batcher ends. Idempotent.
  void close();

  nlohmann::json metadata() const;
  // Prometheus exposition lines of this model's counters.
  void write_metrics(std::string& out) const;
  // Counters the transports feed (a request refused before it reached the queue).
  void count_failure(Code code);
  int64_t queued() const;
  // Whether submit() would refuse a request now for a full queue (checked again by submit).
  bool full() const;
  // Throws the ServeError kOverloaded that submit() gives for a full queue, counted as such:
  // for a transport that refused before reading the request (serve/http.cc).
  [[noreturn]] void submit_refused();
  ModelStats stats() const;
  int64_t failed() const;  // requests refused or failed, every code
  // Each engine gives back the memory its framework keeps between runs
  // (Engine::release_cached_memory); for a model gone idle. Safe while requests run.
  void release_cached_memory();

 private:
  struct Pending {
    Tensor images;
    std::function<void(Completion&&)> done;
    double submitted_s = 0;
  };
  void batcher();
  // Without batching (max_batch 1): runs a request on the caller's thread when its turn comes
  // (tickets in arrival order), instead of handing it to a batcher thread and back.
  void run_here(Tensor images, std::function<void(Completion&&)> done);
  void run_batch(std::vector<Pending>& batch, int64_t images);
  // Counts a request refused at admission and gives its error: kUnavailable (closing), or
  // kOverloaded with `waiting` requests in the queue. Takes no lock.
  ServeError refused(Code code, int64_t waiting);

  std::string name_;
  std::vector<std::unique_ptr<Engine>> engines_;
  ModelSignature interface_;
  BatchPolicy policy_;
  nlohmann::json description_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  int64_t queued_images_ = 0;
  bool closing_ = false;
  std::thread thread_;  // the batcher; none without batching
  std::condition_variable turn_;
  uint64_t next_ticket_ = 0, serving_ = 0;  // without batching: tickets given, and whose turn
  Tensor batch_input_, member_output_, batch_output_;

  // Counters (read by /metrics while the batcher writes them).
  std::atomic<int64_t> succeeded_{0}, images_{0}, batches_{0};
  std::atomic<int64_t> queue_us_{0}, compute_us_{0}, request_compute_us_{0};
  std::vector<std::atomic<int64_t>> batch_sizes_;  // index: images in the batch
  std::map<Code, std::atomic<int64_t>> failures_;
};

// Runs a request to its end from the caller's thread: checks it, queues it, waits for its
// batch. Throws ServeError (the client's fault, overload, a framework failure).
InferResponse infer(ServedModel& model, InferRequest request);

// The models a server offers, its metadata, readiness, and token.
class ModelServer {
 public:
  explicit ModelServer(std::string token = "");
  void add(std::unique_ptr<ServedModel> model);
  // Throws ServeError kNotFound naming the models there are.
  ServedModel& model(const std::string& name);
  std::vector<std::string> names() const;

  // Whether the bearer token of an Authorization header value ("Bearer X") is the server's
  // (always true when it has none). Compared in constant time.
  bool authorized(const std::string& authorization) const;
  bool ready() const { return ready_.load(); }
  // Not ready any more (new requests get kUnavailable), then every model's queue drains.
  void shut_down();

  nlohmann::json metadata() const;
  std::string metrics() const;
  // infer() on the named model, counting what failed.
  InferResponse infer(InferRequest request);
  // A request refused before it reached a model (no such model, no token, a body too large).
  void count_failure(Code code);
  // Requests seen so far, answered or refused (what tells a quiet server from a busy one).
  int64_t requests_seen() const;
  // Every model's ServedModel::release_cached_memory.
  void release_cached_memory();

 private:
  std::string token_;
  std::atomic<bool> ready_{true};
  std::map<std::string, std::unique_ptr<ServedModel>> models_;
  std::map<Code, std::atomic<int64_t>> failures_;
};

}  // namespace infermark::serve
