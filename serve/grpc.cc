#include "serve/grpc.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>

#include "infermark/version.h"
#include "serve/grpc_convert.h"
#include "serve/kserve_v2.grpc.pb.h"

namespace infermark::serve {
namespace {

grpc::StatusCode grpc_code(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Code::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case Code::kTooLarge:
    case Code::kOverloaded:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Code::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case Code::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case Code::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

grpc::Status status_of(const ServeError& e) { return {grpc_code(e.code()), e.what()}; }

}  // namespace

class GrpcServer::Service final : public inference::GRPCInferenceService::Service {
 public:
  explicit Service(ModelServer& server) : server_(server) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* out) override {
    out->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* out) override {
    out->set_ready(server_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* in,
                          inference::ModelReadyResponse* out) override {
    return guarded(ctx, [&] {
      server_.model(in->name());
      out->set_ready(server_.ready());
    });
  }
  grpc::Status ServerMetadata(grpc::ServerContext* ctx, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* out) override {
    return guarded(ctx, [&] {
      const nlohmann::json m = server_.metadata();
      out->set_name(m["name"].get<std::string>());
      out->set_version(m["version"].get<std::string>());
      for (const auto& e : m["extensions"]) out->add_extensions(e.get<std::string>());
    });
  }
  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* in,
                             inference::ModelMetadataResponse* out) override {
    return guarded(ctx, [&] {
      const nlohmann::json m = server_.model(in->name()).metadata();
      out->set_name(m["name"].get<std::string>());
      out->add_versions("1");
      out->set_platform(m["platform"].get<std::string>());
      for (const char* side : {"inputs", "outputs"})
        for (const auto& t : m[side]) {
          auto* tm = std::string(side) == "inputs" ? out->add_inputs() : out->add_outputs();
          tm->set_name(t["name"].get<std::string>());
          tm->set_datatype(t["datatype"].get<std::string>());
          for (const auto& d : t["shape"]) tm->add_shape(d.get<int64_t>());
        }
    });
  }
  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* in,
                          inference::ModelInferResponse* out) override {
    if (!authorized(ctx)) return unauthenticated();
    InferRequest request;
    try {
      request = from_proto(*in);
    } catch (const ServeError& e) {
      server_.count_failure(e.code());
      return status_of(e);
    }
    try {
      to_proto(server_.infer(std::move(request)), *out);
      return grpc::Status::OK;
    } catch (const ServeError& e) {
      return status_of(e);
    }
  }

 private:
  bool authorized(grpc::ServerContext* ctx) const {
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    const std::string value =
        it == md.end() ? "" : std::string(it->second.data(), it->second.size());
    return server_.authorized(value);
  }
  grpc::Status unauthenticated() {
    server_.count_failure(Code::kUnauthenticated);
    return {grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token (authorization)"};
  }
  template <typename F>
  grpc::Status guarded(grpc::ServerContext* ctx, F&& f) {
    if (!authorized(ctx)) return unauthenticated();
    try {
      f();
      return grpc::Status::OK;
    } catch (const ServeError& e) {
      return status_of(e);
    } catch (const std::exception& e) {
      return {grpc::StatusCode::INTERNAL, e.what()};
    }
  }
  ModelServer& server_;
};

std::string read_pem_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot be read");
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > (size_t{1} << 20)) throw Error(path + ": larger than 1 MiB, not a PEM file");
  }
  return text;
}

GrpcServer::GrpcServer(ModelServer& server, const GrpcOptions& options)
    : service_(std::make_unique<Service>(server)) {
  if (options.threads < 1) throw Error("--grpc-threads must be >= 1");
  grpc::ServerBuilder builder;
  const std::string address = options.host + ":" + std::to_string(options.port);
  // Without SO_REUSEPORT (gRPC's default on Linux): a port another server listens on is
  // refused, not shared with it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      throw Error("--tls-cert and --tls-key go together");
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back(
        {read_pem_file(options.tls_key), read_pem_file(options.tls_cert)});
    credentials = grpc::SslServerCredentials(tls);
  }
  builder.AddListeningPort(address, credentials, &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  grpc::ResourceQuota quota("infermark-serve");
  quota.SetMaxThreads(options.threads);
  builder.SetResourceQuota(quota);
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || port_ == 0)
    throw Error("cannot listen for gRPC on " + address +
                " (in use, or not an address of this machine)");
}

GrpcServer::~GrpcServer() { stop(); }

void GrpcServer::stop() {
  if (!grpc_) return;
  // In-flight RPCs are answered; new ones are refused.
  grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc_->Wait();
  grpc_.reset();
}

}  // namespace infermark::serve
