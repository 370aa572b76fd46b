// The gRPC API end to end through the client library: optimistic concurrency, idempotency,
// atomic batches, health checking, deadlines, the in-flight bound and the metrics endpoint.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"

namespace rdb::test {
namespace {

namespace pb = ::rdeebee::v1;
using client::EventInput;
using client::Expected;

class ApiTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(std::move(args));
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    c_ = server_->NewClient();
  }
  void TearDown() override {
    if (!server_) return;
    if (HasFailure()) std::cerr << "server log:\n" << server_->log();
    EXPECT_EQ(server_->Stop(), 0);
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> c_;
};

TEST_F(ApiTest, ExpectedVersionConflictCarriesTheActualVersion) {
  StartServer();
  ASSERT_TRUE(c_->Append("k", EventInput{"a", ""}, Expected::NoStream()).ok());
  ASSERT_TRUE(c_->Append("k", EventInput{"b", ""}, Expected::Exact(1)).ok());
  auto r = c_->Append("k", EventInput{"c", ""}, Expected::Exact(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(r.status().actual_version().has_value());
  EXPECT_EQ(*r.status().actual_version(), 2u);
  EXPECT_NE(r.status().message().find("2"), std::string::npos);
  r = c_->Append("k", EventInput{"c", ""}, Expected::NoStream());
  EXPECT_EQ(r.status().actual_version().value_or(99), 2u);
  // A deleted key still has events: NO_STREAM fails, and versions continue.
  ASSERT_TRUE(c_->Delete("k").ok());
  r = c_->Append("k", EventInput{"d", ""}, Expected::NoStream());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  r = c_->Append("k", EventInput{"d", ""}, Expected::Exact(3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_version, 4u);
}

TEST_F(ApiTest, IdempotentRetryReturnsTheOriginalResult) {
  StartServer();
  auto first = c_->Append("k", EventInput{"a", ""}, Expected::NoStream(), "id-1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->deduplicated);
  ASSERT_TRUE(c_->Append("other", EventInput{"x", ""}, Expected::Any(), "id-1").ok());
  // Retried with another payload and a NO_STREAM that would now fail: the original result.
  auto retry = c_->Append("k", EventInput{"zzz", ""}, Expected::NoStream(), "id-1");
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_seq, first->first_seq);
  EXPECT_EQ(retry->first_version, first->first_version);
  auto h = c_->ReadStream("k", 0, false, 100);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->events.size(), 1u);
  EXPECT_EQ(h->events[0].payload, "a");
  EXPECT_EQ(h->events[0].idempotency_id, "id-1");
}

TEST_F(ApiTest, BatchIsAllOrNothing) {
  StartServer({"--payload-bytes-max", "1KiB"});
  std::vector<EventInput> batch = {{"1", "T"}, {"2", "T"}, {"3", "T"}};
  auto ok = c_->Append("b", batch, Expected::NoStream());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->last_seq - ok->first_seq, 2u);
  EXPECT_EQ(ok->first_version, 1u);
  EXPECT_EQ(ok->last_version, 3u);

  // A stale expected version: none of the batch is written.
  auto stale = c_->Append("b", batch, Expected::Exact(1));
  EXPECT_EQ(stale.status().code(), Code::kFailedPrecondition);
  // One event over the payload limit: none is written.
  std::vector<EventInput> bad = {{"4", ""}, {std::string(1025, 'x'), ""}, {"6", ""}};
  auto big = c_->Append("b", bad);
  EXPECT_EQ(big.status().code(), Code::kInvalidArgument);
  EXPECT_NE(big.status().message().find("payload_bytes_max"), std::string::npos);
  // Too many events.
  std::vector<EventInput> many(1001, EventInput{"x", ""});
  EXPECT_EQ(c_->Append("b", many).status().code(), Code::kInvalidArgument);

  auto h = c_->ReadStream("b", 0, false, 100);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->events.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(h->events[i].version, i + 1);
    EXPECT_EQ(h->events[i].seq, ok->first_seq + i);
    EXPECT_EQ(h->events[i].event_type, "T");
  }
  EXPECT_EQ(c_->GetStatus()->last_seq, ok->last_seq);
}

TEST_F(ApiTest, ReadStreamAndReadAllPage) {
  StartServer();
  for (int i = 0; i < 25; i++) ASSERT_TRUE(c_->Append("p", EventInput{std::to_string(i), ""}).ok());
  auto page = c_->ReadStream("p", 0, false, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->events.size(), 10u);
  EXPECT_EQ(page->next, 11u);
  auto back = c_->ReadStream("p", 0, true, 5);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->events.size(), 5u);
  EXPECT_EQ(back->events[0].version, 25u);
  auto all = c_->ReadAll(20, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->events.size(), 6u);
  EXPECT_EQ(all->events.front().seq, 20u);
  EXPECT_EQ(c_->ReadStream("nothing", 0, false, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(c_->ReadAll(0, 10001).status().code(), Code::kInvalidArgument);
}

TEST_F(ApiTest, HealthServiceAnswersServing) {
  StartServer();
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request;  // an empty HealthCheckRequest (service "" = the whole server)
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = s;
                   done = true;
                   cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(ApiTest, ExpiredDeadlineIsRefusedAndTheServerCarriesOn) {
  StartServer();
  client::ClientOptions o;
  o.timeout_seconds = 0.000001;
  auto hasty = client::Client::Connect(server_->address(), o);
  ASSERT_TRUE(hasty.ok());
  auto r = (*hasty)->Append("d", EventInput{"x", ""});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);  // DEADLINE_EXCEEDED
  EXPECT_TRUE(c_->GetStatus().ok());
}

TEST_F(ApiTest, FloodGetsResourceExhaustedNotAQueue) {
  StartServer({"--requests-in-flight-max", "1"});
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&, t] {
      auto c = server_->NewClient();
      for (int i = 0; i < 30; i++) {
        auto r = c->Append("f" + std::to_string(t), EventInput{std::string(1000, 'x'), ""});
        if (r.ok()) {
          ok++;
        } else if (r.status().code() == Code::kResourceExhausted) {
          exhausted++;
          EXPECT_NE(r.status().message().find("requests_in_flight_max"), std::string::npos)
              << r.status().message();
        } else {
          other++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(c_->GetStatus()->events_appended, static_cast<uint64_t>(ok.load()));
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST_F(ApiTest, MetricsEndpoint) {
  int metrics_port = FreePort();
  StartServer({"--metrics-port", std::to_string(metrics_port)});
  ASSERT_TRUE(c_->Append("m", EventInput{"x", ""}).ok());
  (void)c_->Get("absent");
  std::string text = HttpGet(metrics_port, "/metrics");
  EXPECT_NE(text.find("200 OK"), std::string::npos);
  EXPECT_NE(text.find("rdb_requests_total{method=\"Append\",code=\"OK\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rdb_requests_total{method=\"Get\",code=\"NOT_FOUND\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("rdb_request_duration_seconds_bucket{method=\"Append\""), std::string::npos);
  for (const char* name : {"rdb_log_syncs_total", "rdb_appends_total", "rdb_bytes_appended_total",
                           "rdb_memtable_bytes", "rdb_sst_bytes", "rdb_compactions_total"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_NE(HttpGet(metrics_port, "/nope").find("404"), std::string::npos);
}

}  // namespace
}  // namespace rdb::test

namespace rdb::test {
namespace {

// Server reflection: a raw bidi call of grpc.reflection.v1alpha.ServerReflection with
// list_services, checked for our service name in the response bytes.
TEST_F(ApiTest, ServerReflectionListsTheService) {
  StartServer();
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int id) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(static_cast<intptr_t>(id)));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  grpc::Slice req(std::string("\x3a\x00", 2));  // list_services: ""
  grpc::ByteBuffer request(&req, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("rdeebee.v1.EventStore"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
}

}  // namespace
}  // namespace rdb::test
