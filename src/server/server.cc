#include "server/server.h"

#include "absl/synchronization/mutex.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cluster/cluster_node.h"
#include "cluster/membership.h"
#include "cluster/node_id_file.h"
#include "cluster/replication_service.h"
#include "cluster/sequencer.h"
#include "engine/engine.h"
#include "etcd/client.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/service.h"

namespace rdb::server {

namespace {

std::vector<Sample> EngineSamples(Engine* engine) {
  Engine::Stats s = engine->stats();
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  return {
      {"rdb_appends_total", "Append requests committed (a batch counts once).", true, d(s.appends)},
      {"rdb_events_appended_total", "Events appended.", true, d(s.events_appended)},
      {"rdb_bytes_appended_total", "Payload bytes appended.", true, d(s.bytes_appended)},
      {"rdb_group_commits_total", "Group commits of the event log.", true, d(s.group_commits)},
      {"rdb_log_syncs_total", "fsyncs (fdatasync) of the event log.", true, d(s.log_syncs)},
      {"rdb_log_bytes", "Bytes in the event log.", false, d(s.log_bytes)},
      {"rdb_last_seq", "Highest committed seq.", false, d(s.last_seq)},
      {"rdb_memtable_bytes", "Index memtable bytes (mutable + immutable).", false,
       d(s.index.memtable_bytes)},
      {"rdb_sst_count", "Live SSTables.", false, d(s.index.table_count)},
      {"rdb_sst_bytes", "Bytes in live SSTables.", false, d(s.index.table_bytes)},
      {"rdb_flushes_total", "Memtable flushes.", true, d(s.index.flushes)},
      {"rdb_flush_bytes_total", "Bytes written by flushes.", true, d(s.index.bytes_flushed)},
      {"rdb_compactions_total", "Compactions finished.", true, d(s.index.compactions)},
      {"rdb_compaction_bytes_total", "Bytes written by compactions.", true,
       d(s.index.bytes_compacted)},
      {"rdb_write_stalls_total", "Writes that waited for flush or compaction.", true,
       d(s.index.write_stalls)},
  };
}

// Joins the cluster (shape, node id, registration, election); see cluster/membership.h.
// A node restarting with its id in its data directory waits this long for etcd at start, retrying
// (etcd restarting, or the node restarted during an outage); SIGTERM/SIGINT end the wait. A new
// node fails at once: a join interrupted half-way could leave a claimed slot unused.
constexpr int64_t kEtcdStartWaitMs = 60000;
constexpr int64_t kEtcdStartBackoffMaxMs = 2000;

// The message of the status StartMembership returns when a signal ended its wait for etcd.
constexpr char kStoppedWhileWaiting[] = "stopped by a signal while waiting for etcd";

rdb::Status StartMembership(const ServerConfig& config, Engine* engine,
                            std::unique_ptr<cluster::Membership>* out) {
  cluster::MembershipOptions mo;
  RDB_ASSIGN_OR_RETURN(mo.etcd_endpoints, etcd::Client::ParseEndpoints(config.etcd));
  mo.address = config.ListenAddress();
  mo.node = config.node.empty() ? mo.address : config.node;
  mo.data_dir = config.data_dir;
  mo.shape = {config.dbname, config.groups, config.group_size, config.reads, config.writes};
  mo.lease_ttl_s = config.lease_ttl_s;
  mo.refresh_interval_s = config.refresh_interval_s;
  mo.last_seq = [engine] { return engine->last_seq(); };
  mo.defer_campaign_when_new = true;
  spdlog::info("joining cluster {} via etcd {} as node {} ({})", config.dbname, config.etcd,
               mo.node, mo.address);
  auto identity = cluster::ReadNodeIdentity(mo.env, mo.data_dir);
  const bool rejoining = identity.ok() && identity->has_value();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kEtcdStartWaitMs);
  int64_t backoff_ms = 100;
  for (;;) {
    auto started = cluster::Membership::Start(mo);
    if (started.ok()) {
      *out = std::move(started).value();
      return rdb::Status::OK();
    }
    if (started.status().code() != Code::kUnavailable || !rejoining ||
        std::chrono::steady_clock::now() >= deadline) {
      return started.status();
    }
    spdlog::warn(
        "etcd is not reachable yet ({}); retrying in {} ms (a restarting node waits up to "
        "{} s)",
        started.status().message(), backoff_ms, kEtcdStartWaitMs / 1000);
    // The shutdown signals are blocked in every thread (ServerMain): take one here, or sleep.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    timespec pause{backoff_ms / 1000, (backoff_ms % 1000) * 1000000};
    if (sigtimedwait(&stop, nullptr, &pause) > 0) {
      return rdb::Status::Aborted(kStoppedWhileWaiting);
    }
    backoff_ms = std::min(backoff_ms * 2, kEtcdStartBackoffMaxMs);
  }
}

}  // namespace

struct Server::Impl {
  ServerConfig config;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<cluster::Membership> membership;           // cluster mode only
  std::unique_ptr<cluster::ReplicationService> replication;  // cluster mode: the member's end
  std::unique_ptr<cluster::ClusterNode> cluster_node;        // cluster mode: leader 1's write path
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<CdcService> cdc;
  std::unique_ptr<EventStoreService> service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<HttpServer> http;
  int selected_port = 0;
  bool shut_down = false;
  rdb::Status close_status;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { (void)Shutdown(); }

Result<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;

  EngineOptions eo;
  eo.data_dir = config.data_dir;
  eo.fsync = config.fsync;
  eo.fsync_interval_ms = config.fsync_interval_ms;
  eo.payload_bytes_max = config.payload_bytes_max;
  eo.segment_bytes_max = config.segment_bytes_max;
  eo.memtable_bytes = config.memtable_bytes;
  eo.block_cache_bytes = config.block_cache_bytes;
  eo.compression = config.compression;
  eo.commit_queue_max = config.commit_queue_max;
  if (!config.etcd.empty()) {
    // Client appends only through leader 1's commit hook; one etcd seq batch per group commit.
    eo.cluster = true;
    eo.group_commit_events_max = cluster::kSeqsPerRevision;
  }
  spdlog::info("opening data directory {} (fsync {})", config.data_dir, FsyncName(config.fsync));
  auto opened = Engine::Open(eo);
  if (!opened.ok()) return opened.status();
  impl->engine = std::move(opened).value();
  Engine* engine = impl->engine.get();
  spdlog::info("data directory open: last seq {}", engine->last_seq());

  if (!config.etcd.empty()) {
    rdb::Status st = StartMembership(config, engine, &impl->membership);
    if (!st.ok()) {
      (void)impl->engine->Close();
      return st;
    }
  }

  impl->metrics = std::make_unique<Metrics>([engine] { return EngineSamples(engine); });
  ServiceOptions so;
  so.payload_bytes_max = config.payload_bytes_max;
  so.requests_in_flight_max = config.requests_in_flight_max;
  so.append_stream_in_flight_max = config.append_stream_in_flight_max;
  so.data_dir = config.data_dir;
  so.fsync = FsyncName(config.fsync);
  so.address = config.ListenAddress();
  so.cluster = impl->membership.get();
  so.groups = config.groups;
  if (impl->membership) {
    // Created here (started once the server listens) so that reads can confirm leadership.
    cluster::ClusterNodeOptions co;
    co.dbname = config.dbname;
    co.reads = config.reads;
    co.writes = config.writes;
    impl->replication = std::make_unique<cluster::ReplicationService>(
        engine, impl->membership->group(), impl->membership->node());
    cluster::ReplicationService* replication = impl->replication.get();
    co.caught_up = [replication] { return replication->caught_up(); };
    co.leader2_of_epoch = [replication] { return replication->caught_up_leader2_epoch(); };
    // Set before the node starts (it leads only after Start); the node stops before cdc goes.
    Impl* server = impl.get();
    co.on_watermark = [server] {
      if (server->cdc) server->cdc->NotifyWatermark();
    };
    impl->cluster_node = std::make_unique<cluster::ClusterNode>(engine, impl->membership.get(), co);
    cluster::ClusterNode* node = impl->cluster_node.get();
    so.confirm_leadership = [node] { return node->ConfirmLeadership(); };
  }
  CdcOptions cdc_options;
  if (impl->cluster_node) {
    cluster::ClusterNode* node = impl->cluster_node.get();
    cdc_options.group_watermark = [node] { return node->CommittedWatermark(); };
  }
  impl->cdc = std::make_unique<CdcService>(engine, impl->metrics.get(), cdc_options);
  impl->service =
      std::make_unique<EventStoreService>(engine, impl->metrics.get(), impl->cdc.get(), so);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::string address = config.ListenAddress();
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->selected_port);
  builder.RegisterService(impl->service.get());
  if (impl->replication) builder.RegisterService(impl->replication.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.grpc_receive_bytes_max()));
  builder.SetMaxSendMessageSize(static_cast<int>(kReadBytesMax + (4u << 20)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config.streams_per_connection_max));
  // Never share the port with another process (a second server must fail, not split traffic).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server || impl->selected_port == 0) {
    if (impl->membership) impl->membership->Stop();
    (void)impl->engine->Close();
    return rdb::Status::Unavailable("cannot listen on " + address +
                                    " (address in use or not available)");
  }
  impl->grpc_server->GetHealthCheckService()->SetServingStatus(true);
  if (impl->cluster_node) impl->cluster_node->Start();

  if (config.metrics_port != 0) {
    Metrics* m = impl->metrics.get();
    impl->http = std::make_unique<HttpServer>(config.listen, config.metrics_port,
                                              [m] { return m->Render(); });
    rdb::Status st = impl->http->Start();
    if (!st.ok()) {
      if (impl->cluster_node) impl->cluster_node->Stop();
      impl->grpc_server->Shutdown();
      impl->grpc_server->Wait();
      if (impl->membership) impl->membership->Stop();
      (void)impl->engine->Close();
      return st;
    }
    spdlog::info("metrics on http://{}:{}/metrics", config.listen, impl->http->port());
  }
  spdlog::info("rdb-server listening on {} (data dir {}, fsync {})", address, config.data_dir,
               FsyncName(config.fsync));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

rdb::Status Server::Shutdown() {
  Impl& s = *impl_;
  if (s.shut_down) return s.close_status;
  s.shut_down = true;
  s.grpc_server->GetHealthCheckService()->SetServingStatus(false);
  // Resign at once, so leader 2 of the group takes over without waiting for the lease.
  if (s.membership) s.membership->Stop();
  // No longer leader 1: client appends are refused from here on (in-flight ones fail).
  if (s.cluster_node) s.cluster_node->Stop();
  s.service->StartDraining();
  spdlog::info("shutting down: {} requests in flight, waiting up to {} ms", s.service->in_flight(),
               s.config.shutdown_grace_ms);
  // Subscriptions end with UNAVAILABLE; they would never finish by themselves. Merged streams
  // first: their upstreams may be this node's own group feeds.
  s.service->ShutdownMergedFeed();
  s.cdc->Shutdown();
  // Let in-flight requests finish (new ones get UNAVAILABLE), then shut the gRPC server down at
  // once: waiting in grpc::Server::Shutdown for idle client connections to go away takes seconds,
  // and its deadline force-closes them anyway.
  auto grace =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(s.config.shutdown_grace_ms);
  while (s.service->in_flight() > 0 && std::chrono::steady_clock::now() < grace) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (s.service->in_flight() > 0) {
    spdlog::warn("{} requests still in flight after {} ms: cancelling them", s.service->in_flight(),
                 s.config.shutdown_grace_ms);
  }
  s.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  spdlog::debug("gRPC server shut down");
  s.grpc_server->Wait();
  spdlog::debug("gRPC server threads finished");
  if (s.http) s.http->Stop();
  s.close_status = s.engine->Close();
  if (s.close_status.ok()) {
    spdlog::info("shut down cleanly at seq {}", s.engine->last_seq());
  } else {
    spdlog::error("engine close failed: {}", s.close_status.ToString());
  }
  return s.close_status;
}

std::string Server::listen_address() const { return impl_->config.ListenAddress(); }

uint16_t Server::metrics_port() const { return impl_->http ? impl_->http->port() : 0; }

namespace {

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rdb-server");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace

int ServerMain(int argc, char** argv) {
  // Debian's abseil checks lock order on every mutex gRPC takes; that is a debugging aid we do not
  // want on the request path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the shutdown signals in every thread (gRPC's included); the main thread takes them with
  // sigwait, so shutdown runs in ordinary code, not in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  ServerConfig config;
  ParseOutcome parsed = ParseServerConfig(argc, argv, &config);
  if (parsed.exit_now) return parsed.exit_code;
  SetUpLogging(config.trace_level);

  auto started = Server::Start(config);
  if (!started.ok()) {
    const rdb::Status& st = started.status();
    if (st.code() == Code::kAborted && st.message() == kStoppedWhileWaiting) {
      spdlog::info("stopped before starting: {}", st.message());
      spdlog::shutdown();
      return 0;
    }
    if (st.code() == Code::kAlreadyExists) {
      spdlog::error("cannot start: {} (another rdb-server uses this data directory; stop it first)",
                    st.message());
    } else {
      spdlog::error("cannot start: {}", st.ToString());
    }
    spdlog::shutdown();
    return 1;
  }
  std::unique_ptr<Server> server = std::move(started).value();

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down gracefully (send it again to exit at once)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::thread([signals] {
    int again = 0;
    sigset_t set = signals;
    sigwait(&set, &again);
    std::fprintf(stderr, "rdb-server: second signal, exiting without a clean shutdown\n");
    std::_Exit(1);
  }).detach();
  rdb::Status st = server->Shutdown();
  spdlog::shutdown();
  return st.ok() ? 0 : 1;
}

}  // namespace rdb::server
