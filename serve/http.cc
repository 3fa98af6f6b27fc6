#include "serve/http.h"

#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace infermark::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Request headers larger than this are refused (431).
constexpr uint32_t kMaxHeaderBytes = 64 * 1024;

// A body read off the socket and thrown away: what a request answered without its body (no
// such model, no token, a full queue) still sends, so that the connection stays in step for
// its next request without storing the bytes.
struct DiscardBody {
  struct value_type {};
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type&) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class Buffers>
    std::size_t put(const Buffers& buffers, beast::error_code& ec) {
      ec = {};
      return net::buffer_size(buffers);
    }
    void finish(beast::error_code& ec) { ec = {}; }
  };
};

// What the server answers to one request.
struct Answer {
  Answer(http::status s, std::string b, std::string type = "application/json")
      : status(s), body(std::move(b)), content_type(std::move(type)) {}
  http::status status;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

Answer json_answer(const nlohmann::json& j, http::status status = http::status::ok) {
  return {status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

Answer error_answer(Code code, const std::string& message) {
  return {static_cast<http::status>(http_status(code)), error_body(message)};
}

// The path's segments, percent-decoded; nullopt when an escape is malformed.
std::optional<std::vector<std::string>> path_segments(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  std::string current;
  bool started = false;
  for (size_t i = 0; i < target.size(); ++i) {
    const char c = target[i];
    if (c == '/') {
      if (started) out.push_back(std::move(current));
      current.clear();
      started = true;
    } else if (c == '%') {
      if (i + 2 >= target.size() || !std::isxdigit(static_cast<unsigned char>(target[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(target[i + 2])))
        return std::nullopt;
      current += static_cast<char>(std::stoi(std::string(target.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      current += c;
    }
  }
  if (started) out.push_back(std::move(current));
  return out;
}

// What a request asks for, from its method and path alone.
struct Route {
  enum Kind { kLive, kReady, kServer, kMetrics, kModel, kModelReady, kInfer, kNone } kind = kNone;
  std::string model;
};

Route route_of(http::verb method, std::string_view target) {
  const auto segments = path_segments(target);
  if (!segments) return {};
  const std::vector<std::string>& s = *segments;
  const bool get = method == http::verb::get;
  if (get && s == std::vector<std::string>{"v2", "health", "live"}) return {Route::kLive, {}};
  if (get && s == std::vector<std::string>{"v2", "health", "ready"}) return {Route::kReady, {}};
  if (get && s == std::vector<std::string>{"v2"}) return {Route::kServer, {}};
  if (get && s == std::vector<std::string>{"metrics"}) return {Route::kMetrics, {}};
  if (s.size() < 3 || s[0] != "v2" || s[1] != "models" || s[2].empty()) return {};
  size_t rest = 3;
  if (s.size() >= 5 && s[3] == "versions" && !s[4].empty()) rest = 5;
  if (s.size() == rest && get) return {Route::kModel, s[2]};
  if (s.size() == rest + 1 && s[rest] == "ready" && get) return {Route::kModelReady, s[2]};
  if (s.size() == rest + 1 && s[rest] == "infer" && method == http::verb::post)
    return {Route::kInfer, s[2]};
  return {};
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it waits for a request (stop()); a request being read or served
  // is answered first.
  virtual void stop_if_idle() = 0;
};

}  // namespace

struct HttpServer::Impl {
  Impl(ModelServer& s, const HttpOptions& o) : server(s), options(o), acceptor(ioc) {}

  ModelServer& server;
  HttpOptions options;
  net::io_context ioc;
  std::optional<net::ssl::context> tls;
  tcp::acceptor acceptor;
  std::vector<std::thread> io;  // run the I/O and the handlers
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<bool> stopping{false};
  bool stopped = false;
  int port = 0;

  std::mutex mutex;  // guards sessions and open
  std::map<uint64_t, std::weak_ptr<SessionBase>> sessions;
  uint64_t next_session = 0;
  int open = 0;

  std::chrono::steady_clock::duration timeout() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options.request_timeout_s));
  }

  void accept();
  template <class Stream>
  void start(tcp::socket socket);

  // The answer to a route that reads no body; runs on an I/O thread (cheap, never waits).
  Answer answer(const Route& route) {
    try {
      switch (route.kind) {
        case Route::kLive:
          return json_answer({{"live", true}});
        case Route::kReady:
        case Route::kModelReady: {
          if (route.kind == Route::kModelReady) server.model(route.model);
          const bool ready = server.ready();
          return json_answer({{"ready", ready}},
                             ready ? http::status::ok : http::status::service_unavailable);
        }
        case Route::kServer:
          return json_answer(server.metadata());
        case Route::kMetrics:
          return {http::status::ok, server.metrics(), "text/plain; version=0.0.4"};
        case Route::kModel:
          return json_answer(server.model(route.model).metadata());
        case Route::kInfer:
        case Route::kNone:
          break;
      }
    } catch (const ServeError& e) {
      return error_answer(e.code(), e.what());
    }
    return error_answer(Code::kInternal, "no answer for this route");
  }

  // The infer request read whole; waits for its batch.
  Answer infer(const std::string& model, const std::string& body,
               const std::string& json_length_header) {
    InferRequest request;
    try {
      request =
          parse_infer_request(body, parse_json_length(json_length_header, body.size()), model);
    } catch (const ServeError& e) {
      server.count_failure(e.code());
      return error_answer(e.code(), e.what());
    }
    try {
      const bool binary = request.binary_output;
      HttpBody out = write_infer_response(server.infer(std::move(request)), binary);
      if (!out.json_length) return {http::status::ok, std::move(out.body)};
      Answer a(http::status::ok, std::move(out.body), "application/octet-stream");
      a.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*out.json_length));
      return a;
    } catch (const ServeError& e) {
      return error_answer(e.code(), e.what());
    } catch (const std::exception& e) {
      return error_answer(Code::kInternal, e.what());
    }
  }
};

namespace {

// One connection: reads a request, answers it, and reads the next while the client keeps it
// alive. Every step runs on the connection's strand; only infer goes to a handler thread.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(HttpServer::Impl& server, uint64_t id, Args&&... args)
      : server_(server), id_(id), stream_(std::forward<Args>(args)...) {}

  ~Session() override {
    std::lock_guard lock(server_.mutex);
    server_.sessions.erase(id_);
    --server_.open;
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->state_ = State::kIdle;
        beast::get_lowest_layer(self->stream_).expires_after(self->server_.timeout());
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->close();
          self->read_request();
        });
      } else {
        self->read_request();
      }
    });
  }

  void stop_if_idle() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->state_ == State::kIdle) beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  enum class State { kIdle, kBody, kHandling, kWriting, kClosed };

  void read_request() {
    if (server_.stopping) return close();
    state_ = State::kIdle;
    header_.emplace();
    header_->header_limit(kMaxHeaderBytes);
    header_->body_limit(server_.options.max_body_bytes);
    // One deadline for the whole request: headers and body.
    beast::get_lowest_layer(stream_).expires_after(server_.timeout());
    http::async_read_header(
        stream_, buffer_, *header_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // A failed read: answered where the client can still take an answer, else closed.
  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      server_.server.count_failure(Code::kTooLarge);
      return write(error_answer(Code::kTooLarge,
                                "the body is larger than the server's limit of " +
                                    std::to_string(server_.options.max_body_bytes) + " bytes"),
                   true);
    }
    if (ec == http::error::header_limit)
      return write({http::status::request_header_fields_too_large,
                    error_body("the request's headers are larger than " +
                               std::to_string(kMaxHeaderBytes) + " bytes")},
                   true);
    // A request that is not HTTP (the parser's own errors); a client that went away between
    // or within requests is not answered.
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return write(error_answer(Code::kInvalidArgument, "malformed HTTP request: " + ec.message()),
                   true);
    close();  // the client went away, stalled past the deadline, or the server stops
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& req = header_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    expect_continue_ = beast::iequals(req[http::field::expect], "100-continue");
    const std::string_view target(req.target().data(), req.target().size());
    const Route route = route_of(req.method(), target);
    const bool health = route.kind == Route::kLive || route.kind == Route::kReady;
    if (!health && !server_.server.authorized(std::string(req[http::field::authorization]))) {
      server_.server.count_failure(Code::kUnauthenticated);
      Answer a =
          error_answer(Code::kUnauthenticated, "missing or wrong bearer token (Authorization)");
      a.headers.emplace_back("WWW-Authenticate", "Bearer");
      return drain_then(std::move(a));
    }
    if (route.kind == Route::kNone)
      return drain_then(
          error_answer(Code::kNotFound,
                       "no route " + std::string(req.method_string()) + " " + std::string(target)));
    if (route.kind != Route::kInfer)
      return drain_then(guarded([&] { return server_.answer(route); }));

    ServedModel* served = nullptr;
    try {
      served = &server_.server.model(route.model);
    } catch (const ServeError& e) {
      server_.server.count_failure(e.code());
      return drain_then(error_answer(e.code(), e.what()));
    }
    // A request the model's queue would refuse anyway is answered 429 before its body is
    // stored and parsed: under a flood, refusing costs reading the bytes off the socket only.
    if (served->full()) {
      try {
        served->submit_refused();
      } catch (const ServeError& e) {
        return drain_then(error_answer(e.code(), e.what()));
      }
    }
    model_ = route.model;
    json_length_ = std::string(req["Inference-Header-Content-Length"]);
    body_.emplace(std::move(*header_));
    header_.reset();
    state_ = State::kBody;
    continue_then([self = this->shared_from_this()] {
      http::async_read(self->stream_, self->buffer_, *self->body_,
                       [self](beast::error_code ec, size_t) { self->on_body(ec); });
    });
  }

  // A handler's answer; whatever it throws is a 500, never an exception out of an I/O thread
  // (which would end the process).
  template <class F>
  static Answer guarded(F&& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      return error_answer(Code::kInternal, e.what());
    } catch (...) {
      return error_answer(Code::kInternal, "unknown failure");
    }
  }

  // A client that sent "Expect: 100-continue" waits for this before it sends the body.
  template <class Next>
  void continue_then(Next next) {
    if (!expect_continue_) return next();
    auto interim =
        std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
    http::async_write(
        stream_, *interim,
        [self = this->shared_from_this(), interim, next](beast::error_code ec, size_t) {
          if (ec) return self->close();
          next();
        });
  }

  void on_body(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    state_ = State::kHandling;
    const std::string body = std::move(body_->get().body());
    body_.reset();
    // Handled on this thread, which waits here for the request's batch: the other threads
    // go on reading and writing every other connection. No hand-off to a handler thread and
    // back, which would cost two thread wake-ups per request.
    write(guarded([&] { return server_.infer(model_, body, json_length_); }), false);
  }

  // Reads the body, if any, without keeping it, then answers.
  void drain_then(Answer answer) {
    if (header_->is_done()) return write(std::move(answer), false);
    // A body the server will not read is refused at once when it is announced as large:
    // reading it would cost the time of its bytes for nothing.
    discard_.emplace(std::move(*header_));
    header_.reset();
    state_ = State::kBody;
    auto a = std::make_shared<Answer>(std::move(answer));
    continue_then([self = this->shared_from_this(), a] {
      http::async_read(self->stream_, self->buffer_, *self->discard_,
                       [self, a](beast::error_code ec, size_t) {
                         self->discard_.reset();
                         if (ec) return self->on_read_error(ec);
                         self->write(std::move(*a), false);
                       });
    });
  }

  void write(Answer a, bool close_after) {
    state_ = State::kWriting;
    auto res = std::make_shared<http::response<http::string_body>>(a.status, version_);
    res->set(http::field::content_type, a.content_type);
    for (const auto& [name, value] : a.headers) res->set(name, value);
    res->body() = std::move(a.body);
    const bool keep = keep_alive_ && !close_after && !server_.stopping;
    res->keep_alive(keep);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.timeout());
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (ec || !keep) return self->close();
                        self->read_request();
                      });
  }

  void close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ignored;
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::get_lowest_layer(self->stream_).close();
      });
    } else {
      // A lingering close: the answer is sent and the sending side shut, then what the client
      // still sends (the rest of a body refused 413) is read and dropped for a moment. Closing
      // with unread bytes would reset the connection, and the reset can destroy the answer
      // before the client reads it.
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.expires_after(std::chrono::seconds(1));
      linger();
    }
  }
  void linger() {
    if constexpr (!kTls) {
      if (lingered_ > server_.options.max_body_bytes) return stream_.close();
      if (!scratch_) scratch_ = std::make_unique<std::array<char, 16384>>();
      stream_.async_read_some(net::buffer(*scratch_),
                              [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                                self->lingered_ += n;
                                if (ec) return self->stream_.close();
                                self->linger();
                              });
    }
  }

  HttpServer::Impl& server_;
  uint64_t id_;
  Stream stream_;
  beast::flat_buffer buffer_;
  State state_ = State::kIdle;
  std::optional<http::request_parser<http::empty_body>> header_;
  std::optional<http::request_parser<http::string_body>> body_;
  std::optional<http::request_parser<DiscardBody>> discard_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  std::string model_, json_length_;
  std::unique_ptr<std::array<char, 16384>> scratch_;  // a lingering close's reads
  size_t lingered_ = 0;
};

}  // namespace

template <class Stream>
void HttpServer::Impl::start(tcp::socket socket) {
  std::shared_ptr<Session<Stream>> session;
  {
    std::lock_guard lock(mutex);
    const uint64_t id = next_session++;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>)
      session = std::make_shared<Session<Stream>>(*this, id, std::move(socket));
    else
      session = std::make_shared<Session<Stream>>(*this, id, std::move(socket), *tls);
    sessions[id] = session;
    ++open;
  }
  session->run();
}

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopping) return;
    if (ec) {
      // Out of descriptors, for instance: try again shortly instead of spinning.
      auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) { accept(); });
      return;
    }
    bool full;
    {
      std::lock_guard lock(mutex);
      full = open >= options.max_connections;
    }
    if (full) {
      beast::error_code ignored;
      socket.close(ignored);  // over the bound: refused at once
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (tls)
        start<beast::ssl_stream<beast::tcp_stream>>(std::move(socket));
      else
        start<beast::tcp_stream>(std::move(socket));
    }
    accept();
  });
}

bool loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  beast::error_code ec;
  const auto address = net::ip::make_address_v4(host, ec);
  return !ec && address.is_loopback();
}

HttpServer::HttpServer(ModelServer& server, const HttpOptions& options) {
  if (options.threads < 1) throw Error("--http-threads must be >= 1");
  if (options.max_connections < 1) throw Error("--max-connections must be >= 1");
  if (!(options.request_timeout_s > 0 && options.request_timeout_s <= 86400))
    throw Error("the request timeout must be within (0, 86400] seconds");
  if (options.tls_cert.empty() != options.tls_key.empty())
    throw Error("--tls-cert and --tls-key go together");
  impl_ = std::make_unique<Impl>(server, options);
  Impl& s = *impl_;
  if (!options.tls_cert.empty()) {
    s.tls.emplace(net::ssl::context::tls_server);
    s.tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    s.tls->use_certificate_chain_file(options.tls_cert, ec);
    if (ec) throw Error(options.tls_cert + ": not a PEM certificate chain: " + ec.message());
    s.tls->use_private_key_file(options.tls_key, net::ssl::context::pem, ec);
    if (ec) throw Error(options.tls_key + ": not a PEM private key: " + ec.message());
  }

  const std::string where =
      options.host + ":" + (options.port == 0 ? "(any port)" : std::to_string(options.port));
  beast::error_code ec;
  tcp::resolver resolver(s.ioc);
  const auto endpoints =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty())
    throw Error("cannot listen on " + where + ": " + (ec ? ec.message() : "no address"));
  const tcp::endpoint endpoint = *endpoints.begin();
  s.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: with SO_REUSEPORT a second server would share a port already served.
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("cannot listen on " + where +
                " (in use, or not an address of this machine): " + ec.message());
  s.port = s.acceptor.local_endpoint().port();

  s.work.emplace(s.ioc.get_executor());
  s.accept();
  // `threads` threads take turns waiting for the sockets (Asio's leader/followers): the one
  // woken reads, handles and writes, and while it waits in a handler (infer waits for its
  // batch) the others serve every other connection. A slow client holds none of them: its
  // bytes are read as they come.
  for (int i = 0; i < std::max(2, options.threads); ++i) s.io.emplace_back([&s] { s.ioc.run(); });
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  net::post(s.ioc, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(s.mutex);
    for (auto& [id, weak] : s.sessions)
      if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  for (auto& session : live) session->stop_if_idle();
  live.clear();
  // The I/O threads end once every connection has been answered and closed.
  s.work.reset();
  for (std::thread& t : s.io) t.join();
  s.io.clear();
}

}  // namespace infermark::serve
