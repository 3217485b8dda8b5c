#include "net/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <exception>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "net/http_connection.h"
#include "net/http_internal.h"

namespace sluice::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr auto kAcceptRetry = std::chrono::milliseconds(50);

// Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces).
bool SplitHostPort(std::string_view listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h = listen.substr(0, colon);
  std::string_view p = listen.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), *port);
  if (ec != std::errc() || end != p.data() + p.size() || p.empty()) return false;
  *host = h.empty() ? "0.0.0.0" : std::string(h);
  return true;
}

}  // namespace

Status ServerOptions::Validate() const {
  std::string host;
  uint16_t p = 0;
  if (!SplitHostPort(listen, &host, &p)) {
    return Status::InvalidArgument("listen must be HOST:PORT, got '" + listen + "'");
  }
  if (io_threads < 1) return Status::InvalidArgument("io_threads must be at least 1");
  if (handler_threads < 1) return Status::InvalidArgument("handler_threads must be at least 1");
  if (max_header_bytes < 1024) return Status::InvalidArgument("max_header_bytes must be >= 1KiB");
  if (max_connections < 1) return Status::InvalidArgument("max_connections must be at least 1");
  if (request_timeout <= Duration::zero() || idle_timeout <= Duration::zero() ||
      send_timeout <= Duration::zero() || head_timeout <= Duration::zero()) {
    return Status::InvalidArgument("timeouts must be positive");
  }
  return Status::OK();
}

class HttpServer::Impl {
 public:
  Impl(ServerOptions options, Handler handler, InlineHandler inline_handler)
      : shared_(std::move(options), std::move(handler), std::move(inline_handler)) {}

  Status Start();
  void Stop(Duration grace);
  uint16_t port() const { return port_.load(std::memory_order_relaxed); }
  ServerStats GetStats() const;

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, tcp::socket socket);
  std::vector<std::shared_ptr<internal::Connection>> Connections();

  // Declared first: connections destroyed with the I/O contexts still use it.
  internal::ServerShared shared_;
  std::mutex lifecycle_mu_;  // serializes Start and Stop
  bool started_ = false;     // GUARDED_BY(lifecycle_mu_)
  bool stopped_ = false;     // GUARDED_BY(lifecycle_mu_)
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::unique_ptr<tcp::acceptor> acceptor_;    // on contexts_[0]
  std::unique_ptr<asio::steady_timer> retry_;  // on contexts_[0]
  size_t next_context_ = 0;                    // contexts_[0]'s thread only
  std::vector<std::thread> threads_;
  std::atomic<uint16_t> port_{0};
};

Status HttpServer::Impl::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) return Status::FailedPrecondition("server already started");
  const ServerOptions& o = shared_.options;
  SLUICE_RETURN_IF_ERROR(o.Validate());
  std::string host;
  uint16_t port = 0;
  SplitHostPort(o.listen, &host, &port);

  for (int i = 0; i < o.io_threads; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(*contexts_[0]);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("cannot resolve listen host '" + host + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
  retry_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    return Status::Unavailable("cannot listen on " + o.listen + ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint(ec).port();

  shared_.pool = std::make_unique<ThreadPool>(static_cast<size_t>(o.handler_threads));
  for (auto& ctx : contexts_) {
    guards_.push_back(asio::make_work_guard(*ctx));
    threads_.emplace_back([ctx = ctx.get()] {
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          SLUICE_LOG_ERROR("http: I/O thread caught: {}", e.what());
        }
      }
    });
  }
  asio::post(*contexts_[0], [this] { Accept(); });
  started_ = true;
  return Status::OK();
}

void HttpServer::Impl::Accept() {
  asio::io_context& target = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  acceptor_->async_accept(target, [this](boost::system::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (shared_.stopping.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Typically EMFILE/ENFILE: back off briefly instead of spinning.
    SLUICE_LOG_WARN("http: accept failed: {}", ec.message());
    retry_->expires_after(kAcceptRetry);
    retry_->async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && !shared_.stopping.load()) Accept();
    });
    return;
  }
  bool refused =
      shared_.connections_open.load(std::memory_order_relaxed) >= shared_.options.max_connections;
  auto conn = internal::Connection::Create(shared_, std::move(socket), refused);
  asio::post(conn->executor(), [conn] { conn->Start(); });
  Accept();
}

std::vector<std::shared_ptr<internal::Connection>> HttpServer::Impl::Connections() {
  std::vector<std::shared_ptr<internal::Connection>> out;
  std::lock_guard lock(shared_.mu);
  out.reserve(shared_.conns.size());
  for (auto& [raw, weak] : shared_.conns) {
    if (auto conn = weak.lock()) out.push_back(std::move(conn));
  }
  return out;
}

void HttpServer::Impl::Stop(Duration grace) {
  std::lock_guard lock(lifecycle_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  shared_.stopping = true;

  // 1. Stop accepting; close connections that sit between requests.
  std::promise<void> closed;
  asio::post(*contexts_[0], [this, &closed] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    retry_->cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& conn : Connections()) {
    asio::post(conn->executor(), [conn] { conn->OnStop(); });
  }
  // 2. Let in-flight handlers finish, up to `grace`.
  {
    std::unique_lock mu_lock(shared_.mu);
    shared_.idle_cv.wait_for(mu_lock, grace, [this] { return shared_.active_handlers == 0; });
  }
  // 3. Cut every remaining connection: blocked reads and writes fail at once.
  for (auto& conn : Connections()) conn->ForceShutdown();
  // 4. Join the I/O threads, then the handler threads (whose posts now go nowhere).
  guards_.clear();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  shared_.pool.reset();
  // 5. Destroying the contexts destroys their pending operations and the connections.
  retry_.reset();
  acceptor_.reset();
  contexts_.clear();
}

ServerStats HttpServer::Impl::GetStats() const {
  ServerStats s;
  s.connections_accepted = shared_.connections_accepted.load(std::memory_order_relaxed);
  s.connections_open = shared_.connections_open.load(std::memory_order_relaxed);
  s.connections_refused = shared_.connections_refused.load(std::memory_order_relaxed);
  s.requests = shared_.requests.load(std::memory_order_relaxed);
  s.bad_requests = shared_.bad_requests.load(std::memory_order_relaxed);
  s.timeouts = shared_.timeouts.load(std::memory_order_relaxed);
  s.bytes_in = shared_.bytes_in.load(std::memory_order_relaxed);
  s.bytes_out = shared_.bytes_out.load(std::memory_order_relaxed);
  return s;
}

HttpServer::HttpServer(ServerOptions options, Handler handler, InlineHandler inline_handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler),
                                   std::move(inline_handler))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() { return impl_->Start(); }

uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::Stop(Duration grace) { impl_->Stop(grace); }

ServerStats HttpServer::GetStats() const { return impl_->GetStats(); }

}  // namespace sluice::net
