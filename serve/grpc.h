#pragma once

// The KServe v2 protocol over gRPC (gRPC C++, Debian's libgrpc++-dev) with the project's own
// .proto (serve/kserve_v2.proto), in front of a ModelServer. Its messages convert to
// serve/protocol.h's structs in serve/grpc_convert.h.

#include <memory>
#include <string>

#include "serve/model_server.h"

namespace grpc {
class Server;
}

namespace infermark::serve {

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0: any free port (port() says which)
  size_t max_message_bytes = size_t{64} << 20;
  int threads = 128;  // RPCs served at once
  // PEM files: TLS when both are given.
  std::string tls_cert, tls_key;
};

// A PEM file (a certificate or a key) whole, at most 1 MiB; throws Error naming the file when
// it cannot be read or is larger. Both transports' TLS and the load generator's read with it.
std::string read_pem_file(const std::string& path);

class GrpcServer {
 public:
  // Binds the port; throws Error when it cannot.
  GrpcServer(ModelServer& server, const GrpcOptions& options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;
  int port() const { return port_; }
  // Stops accepting RPCs and waits for those being served to be answered.
  void stop();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;
};

}  // namespace infermark::serve
