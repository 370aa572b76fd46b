// Server: rdb-server's lifecycle. Opens the engine (which takes the data directory's lock), starts
// the gRPC server (EventStore + health + reflection) and the metrics endpoint, and shuts all of it
// down in order.
//
// Shutdown order: health NOT_SERVING -> service drains (new calls UNAVAILABLE) -> grpc Shutdown
// with a deadline of shutdown_grace_ms (in-flight calls finish; after it they are cancelled) ->
// metrics stop -> Engine::Close (finishes queued appends, syncs the log).
#pragma once

#include <memory>

#include "base/status.h"
#include "server/config.h"

namespace rdb::server {

class Server {
 public:
  // Fails with kAlreadyExists when another process holds the data directory, kUnavailable when the
  // address cannot be listened on, or the engine's error (e.g. kCorruption naming file and offset).
  static Result<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();

  // Graceful shutdown (see above). Idempotent. Returns the engine's Close status.
  Status Shutdown();

  std::string listen_address() const;
  uint16_t metrics_port() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// rdb-server's main: parses the configuration, starts, waits for SIGTERM/SIGINT, shuts down.
// Exit codes: 0 after a clean shutdown, 1 when the server cannot start or stop cleanly, 2 for a
// usage or configuration error.
int ServerMain(int argc, char** argv);

}  // namespace rdb::server
