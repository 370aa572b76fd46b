// EventStore.AppendStream end to end against a real rdb-server: pipelined appends each get their
// own ack matching what is stored; a request's failure (conflict, bad input) is that request's ack
// and the stream goes on; a client that vanishes with appends in flight leaves the server serving
// and the log intact; SIGTERM drains open streams (their acks go out, then UNAVAILABLE "shutting
// down") and every acknowledged append survives the restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace rdb::test {
namespace {

namespace pb = ::rdeebee::v1;
using client::AppendReply;
using client::EventInput;
using client::Expected;
using client::StreamAppend;

// Collects the outcomes of appends sent on a stream, by the sender's own number.
class Outcomes {
 public:
  client::AppendStream::Done For(int n) {
    return [this, n](Result<AppendReply> r) {
      std::lock_guard<std::mutex> l(mu_);
      EXPECT_EQ(results_.count(n), 0u) << "append " << n << " acknowledged twice";
      results_.emplace(n, std::move(r));
      cv_.notify_all();
    };
  }
  // Waits until `count` outcomes are in (or 30 s); returns them.
  std::map<int, Result<AppendReply>> Wait(size_t count) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(30), [&] { return results_.size() >= count; });
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Result<AppendReply>> results_;
};

StreamAppend One(const std::string& key, const std::string& payload,
                 Expected expected = Expected::Any(), const std::string& id = "") {
  return StreamAppend{key, {EventInput{payload, ""}}, expected, id};
}

class AppendStreamTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}, std::string data_dir = "") {
    server_ = std::make_unique<ServerProcess>(std::move(args), std::move(data_dir));
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    c_ = server_->NewClient();
  }
  void TearDown() override {
    if (!server_ || !server_->running()) return;
    if (HasFailure()) std::cerr << "server log:\n" << server_->log();
    EXPECT_EQ(server_->Stop(), 0);
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> c_;
};

TEST_F(AppendStreamTest, PipelinedAppendsAreEachAcknowledgedWithWhatIsStored) {
  // A small read-ahead window: the server pauses and resumes reading the stream many times.
  StartServer({"--append-stream-in-flight-max", "8"});
  constexpr int kAppends = 3000;
  constexpr int kKeys = 40;
  auto stream = c_->OpenAppendStream();
  Outcomes out;
  // All sent before the first ack can arrive: the server reads ahead and acks in batches.
  for (int i = 0; i < kAppends; i++) {
    stream->Send(One("k" + std::to_string(i % kKeys), "p" + std::to_string(i)), out.For(i));
  }
  auto results = out.Wait(kAppends);
  ASSERT_EQ(results.size(), static_cast<size_t>(kAppends));
  ASSERT_TRUE(stream->Close(10).ok());

  std::set<uint64_t> seqs;
  std::map<std::string, std::map<uint64_t, std::string>> by_version;  // key -> version -> payload
  for (const auto& [i, r] : results) {
    ASSERT_TRUE(r.ok()) << "append " << i << ": " << r.status().ToString();
    EXPECT_EQ(r->first_seq, r->last_seq);
    EXPECT_TRUE(seqs.insert(r->first_seq).second) << "seq " << r->first_seq << " acked twice";
    const std::string key = "k" + std::to_string(i % kKeys);
    EXPECT_TRUE(by_version[key].emplace(r->first_version, "p" + std::to_string(i)).second);
  }
  // What each ack said is what the key's history holds: versions 1..n, the acked payloads.
  for (const auto& [key, versions] : by_version) {
    auto h = c_->ReadStream(key, 0, false, 1000);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_EQ(h->events.size(), versions.size()) << key;
    uint64_t v = 1;
    for (const auto& e : h->events) {
      EXPECT_EQ(e.version, v);
      EXPECT_EQ(e.payload, versions.at(v)) << key << " v" << v;
      EXPECT_TRUE(seqs.count(e.seq)) << key << " v" << v;
      v++;
    }
  }
  auto status = c_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->last_seq, *seqs.rbegin());
}

TEST_F(AppendStreamTest, AFailedRequestIsItsOwnAckAndTheStreamGoesOn) {
  StartServer({"--payload-bytes-max", "1KiB"});
  auto stream = c_->OpenAppendStream();
  Outcomes out;
  stream->Send(One("k", "a", Expected::NoStream(), "id-1"), out.For(0));
  ASSERT_EQ(out.Wait(1).size(), 1u);
  stream->Send(One("k", "b", Expected::Exact(7)), out.For(1));  // conflict: actual version 1
  stream->Send(One("", "c"), out.For(2));                       // empty key
  stream->Send(One("k", std::string(2048, 'x')), out.For(3));   // over the payload limit
  stream->Send(One("k", "zzz", Expected::NoStream(), "id-1"), out.For(4));  // a retry
  stream->Send(One("k", "d", Expected::Exact(1)), out.For(5));
  auto r = out.Wait(6);
  ASSERT_EQ(r.size(), 6u);
  ASSERT_TRUE(r.at(0).ok()) << r.at(0).status().ToString();
  EXPECT_EQ(r.at(0)->first_version, 1u);

  EXPECT_EQ(r.at(1).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.at(1).status().actual_version().value_or(99), 1u) << r.at(1).status().ToString();
  EXPECT_EQ(r.at(2).status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.at(2).status().message().find("key"), std::string::npos);
  EXPECT_EQ(r.at(3).status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.at(3).status().message().find("payload"), std::string::npos)
      << r.at(3).status().ToString();
  ASSERT_TRUE(r.at(4).ok()) << r.at(4).status().ToString();
  EXPECT_TRUE(r.at(4)->deduplicated);
  EXPECT_EQ(r.at(4)->first_seq, r.at(0)->first_seq);
  ASSERT_TRUE(r.at(5).ok()) << r.at(5).status().ToString();
  EXPECT_EQ(r.at(5)->first_version, 2u);
  EXPECT_TRUE(stream->Close(10).ok());

  auto h = c_->ReadStream("k", 0, false, 100);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->events.size(), 2u);
  EXPECT_EQ(h->events[0].payload, "a");
  EXPECT_EQ(h->events[1].payload, "d");
}

TEST_F(AppendStreamTest, AClientThatVanishesMidStreamLeavesTheLogIntact) {
  StartServer();
  for (int round = 0; round < 5; round++) {
    // Raw gRPC: write many requests, then cancel without reading a single ack.
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    auto stub = pb::EventStore::NewStub(channel);
    grpc::ClientContext ctx;
    auto rw = stub->AppendStream(&ctx);
    for (int i = 0; i < 500; i++) {
      pb::AppendStreamRequest req;
      req.set_request_id(i);
      req.mutable_append()->set_key("v" + std::to_string(i % 7));
      req.mutable_append()->add_events()->set_payload(std::string(100, 'a' + round));
      if (!rw->Write(req)) break;
    }
    ctx.TryCancel();
    (void)rw->Finish();
  }
  // The server still serves, and the log is whole: seqs 1..N with every key's versions 1..n.
  ASSERT_TRUE(c_->Append("after", EventInput{"x", ""}).ok());
  uint64_t next = 1, count = 0;
  std::map<std::string, uint64_t> versions;
  while (next != 0) {
    auto page = c_->ReadAll(next, 1000);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& e : page->events) {
      EXPECT_EQ(e.seq, count + 1);
      EXPECT_EQ(e.version, ++versions[e.key]) << e.key;
      count++;
    }
    next = page->next;
  }
  auto status = c_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->last_seq, count);
  EXPECT_EQ(versions["after"], 1u);
}

TEST_F(AppendStreamTest, SigtermEndsOpenStreamsAndKeepsEveryAcknowledgedAppend) {
  TempDir dir;
  const std::string data = dir.File("data");
  StartServer({}, data);
  auto stream = c_->OpenAppendStream();
  Outcomes out;
  for (int i = 0; i < 200; i++) stream->Send(One("s" + std::to_string(i % 5), "e"), out.For(i));
  auto acked = out.Wait(200);
  ASSERT_EQ(acked.size(), 200u);
  // The stream stays open and idle: the server ends it.
  auto start = std::chrono::steady_clock::now();
  int status = server_->Stop(30000);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << server_->log();
  EXPECT_LT(seconds, 5.0) << "the open stream held the shutdown";
  Status closed = stream->Close(10);
  EXPECT_EQ(closed.code(), Code::kUnavailable) << closed.ToString();
  // Ended by the drain (after its acks went out), not cut off by the gRPC server's shutdown.
  EXPECT_NE(closed.message().find("shutting down"), std::string::npos) << closed.ToString();
  // Sending on the ended stream fails at once.
  Outcomes late;
  stream->Send(One("s0", "late"), late.For(0));
  auto l = late.Wait(1);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l.at(0).status().code(), Code::kUnavailable);

  StartServer({}, data);
  for (const auto& [i, r] : acked) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto h = c_->ReadStream("s" + std::to_string(i % 5), r->first_version, false, 1);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_EQ(h->events.size(), 1u);
    EXPECT_EQ(h->events[0].seq, r->first_seq);
  }
}

}  // namespace
}  // namespace rdb::test
