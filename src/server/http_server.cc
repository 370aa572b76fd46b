#include "server/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rdb::server {

HttpServer::HttpServer(std::string host, uint16_t port, Handler handler)
    : host_(std::move(host)), port_(port), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  int rc = getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return Status::InvalidArgument("metrics: cannot resolve " + host_ + ": " + gai_strerror(rc));
  Status st = Status::IoError("metrics: no address for " + host_);
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0) {
      listen_fd_ = fd;
      st = Status::OK();
      break;
    }
    st = Status::IoError("metrics: cannot listen on " + host_ + ":" + port + ": " +
                         std::strerror(errno));
    close(fd);
  }
  freeaddrinfo(res);
  RDB_RETURN_IF_ERROR(st);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    if (bound.ss_family == AF_INET)
      port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    else if (bound.ss_family == AF_INET6)
      port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void HttpServer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void HttpServer::Loop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int n = poll(&p, 1, 200);
    if (n <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    close(fd);
  }
}

namespace {
void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string Response(const char* status, const char* type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}
}  // namespace

void HttpServer::Serve(int fd) {
  std::string req;
  char buf[1024];
  // Read the request head with a bounded size and time.
  while (req.find("\r\n\r\n") == std::string::npos && req.find("\n\n") == std::string::npos) {
    if (req.size() >= kRequestBytesMax) {
      SendAll(fd, Response("431 Request Header Fields Too Large", "text/plain", "too large\n"));
      return;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kReadTimeoutMs) <= 0) return;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  std::string line = req.substr(0, req.find_first_of("\r\n"));
  if (line.rfind("GET ", 0) != 0) {
    SendAll(fd, Response("405 Method Not Allowed", "text/plain", "only GET\n"));
    return;
  }
  std::string path = line.substr(4, line.find(' ', 4) - 4);
  if (path == "/metrics" || path.rfind("/metrics?", 0) == 0) {
    SendAll(fd, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", handler_()));
  } else if (path == "/") {
    SendAll(fd, Response("200 OK", "text/plain", "rdb-server metrics: GET /metrics\n"));
  } else {
    SendAll(fd, Response("404 Not Found", "text/plain", "not found; try /metrics\n"));
  }
}

}  // namespace rdb::server
