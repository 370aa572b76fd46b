// EventStoreService: the rdeebee.v1.EventStore gRPC service on top of rdb::Engine.
//
// Every handler: takes a slot among requests_in_flight_max (else RESOURCE_EXHAUSTED), refuses work
// whose deadline already passed or whose client went away, validates the request with messages
// naming the limit broken, calls the engine, maps the Status with ToGrpcStatus, and records
// metrics.
//
// Runs on gRPC's synchronous server (a bounded thread pool; see src/server/README.md).
// Thread-safety: all methods may run concurrently; the engine is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/engine.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "server/metrics.h"
#include "server/validation.h"

namespace rdb::server {

struct ServiceOptions {
  size_t payload_bytes_max = kPayloadBytesMaxDefault;
  uint32_t requests_in_flight_max = 256;
  std::string data_dir;
  std::string fsync;  // for Status
};

class EventStoreService final : public ::rdeebee::v1::EventStore::Service {
 public:
  EventStoreService(Engine* engine, Metrics* metrics, ServiceOptions options);

  // New requests get UNAVAILABLE from now on (graceful shutdown).
  void StartDraining() { draining_.store(true); }
  uint32_t in_flight() const { return in_flight_.load(); }

  grpc::Status Append(grpc::ServerContext* ctx, const ::rdeebee::v1::AppendRequest* req,
                      ::rdeebee::v1::AppendResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx, const ::rdeebee::v1::DeleteRequest* req,
                      ::rdeebee::v1::DeleteResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const ::rdeebee::v1::GetRequest* req,
                   ::rdeebee::v1::GetResponse* resp) override;
  grpc::Status ReadStream(grpc::ServerContext* ctx, const ::rdeebee::v1::ReadStreamRequest* req,
                          ::rdeebee::v1::ReadStreamResponse* resp) override;
  grpc::Status ReadAll(grpc::ServerContext* ctx, const ::rdeebee::v1::ReadAllRequest* req,
                       ::rdeebee::v1::ReadAllResponse* resp) override;
  grpc::Status Status(grpc::ServerContext* ctx, const ::rdeebee::v1::StatusRequest* req,
                      ::rdeebee::v1::StatusResponse* resp) override;

 private:
  template <typename Fn>
  grpc::Status Handle(Method method, grpc::ServerContext* ctx, Fn&& fn);

  Engine* engine_;
  Metrics* metrics_;
  ServiceOptions options_;
  uint64_t start_us_;
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace rdb::server
