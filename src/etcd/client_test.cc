#include "etcd/client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "etcd/test_util.h"

namespace rdb::etcd {
namespace {

using testing::Connect;
using testing::Eventually;
using testing::SharedEtcd;
using testing::TestPrefix;

TEST(EtcdClient, ParseEndpoints) {
  auto eps = Client::ParseEndpoints("127.0.0.1:2379,localhost:22379");
  ASSERT_TRUE(eps.ok());
  EXPECT_EQ(*eps, (std::vector<std::string>{"127.0.0.1:2379", "localhost:22379"}));
  for (const char* bad : {"", "127.0.0.1", "a:1,", ":1", "a:x", "a:1,,b:2"}) {
    auto r = Client::ParseEndpoints(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(Client::Connect({}).status().code(), Code::kInvalidArgument);
}

TEST(EtcdClient, PrefixRangeEnd) {
  EXPECT_EQ(PrefixRangeEnd("a/"), "a0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
}

TEST(EtcdClient, PutGetDeleteWithRevisions) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  auto missing = c->Get(k);
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_TRUE(missing->kvs.empty());

  auto p1 = c->Put(k, "one");
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  PutOptions prev;
  prev.prev_kv = true;
  auto p2 = c->Put(k, "two", prev);
  ASSERT_TRUE(p2.ok());
  EXPECT_GT(p2->revision, p1->revision);
  ASSERT_TRUE(p2->prev_kv.has_value());
  EXPECT_EQ(p2->prev_kv->value, "one");

  auto g = c->Get(k);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->kvs.size(), 1u);
  EXPECT_EQ(g->kvs[0].value, "two");
  EXPECT_EQ(g->kvs[0].version, 2);
  EXPECT_EQ(g->kvs[0].create_revision, p1->revision);
  EXPECT_EQ(g->kvs[0].mod_revision, p2->revision);
  EXPECT_GE(g->revision, p2->revision);

  GetOptions at;
  at.revision = p1->revision;  // the store as it was
  auto old = c->Get(k, at);
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->kvs.size(), 1u);
  EXPECT_EQ(old->kvs[0].value, "one");

  DeleteOptions d;
  d.prev_kv = true;
  auto del = c->Delete(k, d);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->deleted, 1);
  ASSERT_EQ(del->prev_kvs.size(), 1u);
  EXPECT_EQ(del->prev_kvs[0].value, "two");
  EXPECT_TRUE(c->Get(k)->kvs.empty());
  EXPECT_EQ(c->Delete(k)->deleted, 0);

  GetOptions future;
  future.revision = del->revision + 1000;
  EXPECT_EQ(c->Get(k, future).status().code(), Code::kFailedPrecondition);
}

TEST(EtcdClient, PrefixGetAndDelete) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string p = TestPrefix();
  for (const char* k : {"a/2", "a/1", "a/3", "b/1"}) ASSERT_TRUE(c->Put(p + k, k).ok());
  auto all = c->GetPrefix(p + "a/");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[0].key, p + "a/1");  // etcd returns ranges in key order
  EXPECT_EQ(all->kvs[2].key, p + "a/3");
  EXPECT_EQ(all->count, 3);

  GetOptions limited = GetOptions::Prefix(p + "a/");
  limited.limit = 2;
  limited.sort_order = SortOrder::kDescend;
  auto two = c->Get(p + "a/", limited);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->kvs.size(), 2u);
  EXPECT_TRUE(two->more);
  EXPECT_EQ(two->kvs[0].key, p + "a/3");

  auto del = c->DeletePrefix(p + "a/");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->deleted, 3);
  EXPECT_EQ(c->GetPrefix(p)->kvs.size(), 1u);
}

TEST(EtcdClient, TxnBranchesOnEveryCompareTarget) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  std::string other = TestPrefix() + "other";
  auto put = c->Put(k, "v1");
  ASSERT_TRUE(put.ok());

  using Op = Compare::Op;
  auto run = [&](Compare cmp) {
    Txn t;
    t.compare.push_back(std::move(cmp));
    t.then.push_back(TxnOp::MakeGet(k));
    t.otherwise.push_back(TxnOp::MakeGet(other));
    auto r = c->Commit(t);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->succeeded;
  };
  EXPECT_TRUE(run(Compare::Value(k, Op::kEqual, "v1")));
  EXPECT_FALSE(run(Compare::Value(k, Op::kEqual, "v2")));
  EXPECT_TRUE(run(Compare::Value(k, Op::kNotEqual, "v2")));
  EXPECT_TRUE(run(Compare::Version(k, Op::kEqual, 1)));
  EXPECT_TRUE(run(Compare::Version(k, Op::kLess, 2)));
  EXPECT_TRUE(run(Compare::CreateRevision(k, Op::kEqual, put->revision)));
  EXPECT_TRUE(run(Compare::ModRevision(k, Op::kGreater, put->revision - 1)));
  EXPECT_FALSE(run(Compare::ModRevision(k, Op::kGreater, put->revision)));
  EXPECT_TRUE(run(Compare::Lease(k, Op::kEqual, 0)));
  EXPECT_TRUE(run(Compare::Absent(other)));
  EXPECT_FALSE(run(Compare::Absent(k)));
  EXPECT_FALSE(run(Compare::Value(other, Op::kEqual, "")));  // absent: value compares false

  // Then: two writes and a read at one revision; else: a delete.
  Txn t;
  t.compare.push_back(Compare::Version(k, Op::kEqual, 1));
  t.then.push_back(TxnOp::MakePut(k, "v2"));
  t.then.push_back(TxnOp::MakePut(other, "o"));
  t.then.push_back(TxnOp::MakeGet(TestPrefix(), GetOptions::Prefix(TestPrefix())));
  t.otherwise.push_back(TxnOp::MakeDelete(k));
  auto r = c->Commit(t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->succeeded);
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(std::get<PutResult>(r->results[0]).revision, r->revision);
  EXPECT_EQ(std::get<PutResult>(r->results[1]).revision, r->revision);  // one revision per txn
  EXPECT_EQ(std::get<GetResult>(r->results[2]).kvs.size(), 2u);

  auto again = c->Commit(t);  // version is 2 now: the else branch deletes
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->results.size(), 1u);
  EXPECT_EQ(std::get<DeleteResult>(again->results[0]).deleted, 1);

  Txn dup;  // etcd refuses two writes to one key in a transaction
  dup.then.push_back(TxnOp::MakePut(k, "a"));
  dup.then.push_back(TxnOp::MakePut(k, "b"));
  auto bad = c->Commit(dup);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("duplicate key"), std::string::npos);
}

TEST(EtcdClient, LeaseRevokeDeletesItsKeys) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  auto lease = c->LeaseGrant(30);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->ttl_s, 30);
  PutOptions o;
  o.lease = lease->id;
  ASSERT_TRUE(c->Put(k, "v", o).ok());
  auto ttl = c->LeaseKeepAliveOnce(lease->id);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 30);
  auto info = c->LeaseTimeToLive(lease->id, true);
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->ttl_s, 0);
  EXPECT_EQ(info->keys, std::vector<std::string>{k});
  EXPECT_EQ(c->Get(k)->kvs.at(0).lease, lease->id);

  ASSERT_TRUE(c->LeaseRevoke(lease->id).ok());
  EXPECT_TRUE(c->Get(k)->kvs.empty());
  EXPECT_EQ(c->LeaseRevoke(lease->id).code(), Code::kNotFound);
  EXPECT_EQ(c->LeaseKeepAliveOnce(lease->id).status().code(), Code::kNotFound);
  EXPECT_EQ(c->LeaseTimeToLive(lease->id)->ttl_s, -1);
  EXPECT_EQ(c->Put(k, "v", o).status().code(), Code::kNotFound);  // put on a dead lease
}

TEST(EtcdClient, LeaseExpiryDeletesItsKeys) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  auto lease = c->LeaseGrant(1);  // etcd raises it to its minimum (2 s with default timings)
  ASSERT_TRUE(lease.ok());
  PutOptions o;
  o.lease = lease->id;
  ASSERT_TRUE(c->Put(k, "v", o).ok());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return c->Get(k)->kvs.empty(); }, (lease->ttl_s + 5) * 1000));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));  // not deleted before its TTL
  EXPECT_EQ(c->LeaseKeepAliveOnce(lease->id).status().code(), Code::kNotFound);
}

TEST(EtcdClient, FailsOverToTheNextEndpoint) {
  int dead = test::EtcdProcess::FreePort();  // nothing listens there
  ClientOptions o;
  o.timeout_ms = 3000;
  auto c = Client::Connect({"127.0.0.1:" + std::to_string(dead), SharedEtcd().endpoint()}, o);
  ASSERT_TRUE(c.ok());
  std::string k = TestPrefix() + "k";
  auto p = (*c)->Put(k, "v");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*c)->current_endpoint(), SharedEtcd().endpoint());
  EXPECT_EQ((*c)->Get(k)->kvs.at(0).value, "v");
}

TEST(EtcdClient, NoEndpointAnswersIsUnavailable) {
  int dead = test::EtcdProcess::FreePort();
  ClientOptions o;
  o.timeout_ms = 2000;
  auto c = Client::Connect({"127.0.0.1:" + std::to_string(dead)}, o);
  ASSERT_TRUE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->Get("k");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(dead)), std::string::npos)
      << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(EtcdClient, DeadlineOnAMemberThatNeverAnswers) {
  // A socket that accepts connections (the kernel does, from the backlog) but never speaks.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ClientOptions o;
  o.timeout_ms = 500;
  auto c = Client::Connect({"127.0.0.1:" + std::to_string(ntohs(a.sin_port))}, o);
  ASSERT_TRUE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->Put("k", "v");
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

TEST(EtcdClient, CompactedRevisionIsFailedPrecondition) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  auto p1 = c->Put(k, "1");
  auto p2 = c->Put(k, "2");
  ASSERT_TRUE(p1.ok() && p2.ok());
  ASSERT_TRUE(c->Compact(p2->revision).ok());
  GetOptions at;
  at.revision = p1->revision;
  auto r = c->Get(k, at);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("compacted"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace rdb::etcd
