// HttpServer: a tiny HTTP/1.0-style server for GET /metrics (Prometheus scrapes). One connection at
// a time, bounded request size and read timeout; nothing else is served.
//
// Lifecycle: Start() binds and starts the accept thread; Stop() waits for it. Thread-safe handler.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "base/status.h"

namespace rdb::server {

class HttpServer {
 public:
  // Returns the body for GET /metrics.
  using Handler = std::function<std::string()>;

  static constexpr size_t kRequestBytesMax = 8192;
  static constexpr int kReadTimeoutMs = 2000;

  HttpServer(std::string host, uint16_t port, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status Start();
  void Stop();
  uint16_t port() const { return port_; }

 private:
  void Loop();
  void Serve(int fd);

  std::string host_;
  uint16_t port_;
  Handler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace rdb::server
