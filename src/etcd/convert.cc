#include "etcd/internal.h"

namespace rdb::etcd {

namespace {

Code FromGrpcCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Code::kOk;
    case grpc::StatusCode::NOT_FOUND:
      return Code::kNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Code::kInvalidArgument;
    // OUT_OF_RANGE: "required revision has been compacted" or "is a future revision".
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Code::kFailedPrecondition;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Code::kResourceExhausted;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Code::kUnavailable;
    default:
      return Code::kIoError;
  }
}

pb::RangeRequest::SortOrder ToProto(SortOrder o) {
  switch (o) {
    case SortOrder::kAscend:
      return pb::RangeRequest::ASCEND;
    case SortOrder::kDescend:
      return pb::RangeRequest::DESCEND;
    case SortOrder::kNone:
      break;
  }
  return pb::RangeRequest::NONE;
}

pb::RangeRequest::SortTarget ToProto(SortTarget t) {
  switch (t) {
    case SortTarget::kVersion:
      return pb::RangeRequest::VERSION;
    case SortTarget::kCreateRevision:
      return pb::RangeRequest::CREATE;
    case SortTarget::kModRevision:
      return pb::RangeRequest::MOD;
    case SortTarget::kValue:
      return pb::RangeRequest::VALUE;
    case SortTarget::kKey:
      break;
  }
  return pb::RangeRequest::KEY;
}

void ToProto(const Compare& c, pb::Compare* out) {
  out->set_key(c.key);
  if (!c.range_end.empty()) out->set_range_end(c.range_end);
  switch (c.op) {
    case Compare::Op::kEqual:
      out->set_result(pb::Compare::EQUAL);
      break;
    case Compare::Op::kNotEqual:
      out->set_result(pb::Compare::NOT_EQUAL);
      break;
    case Compare::Op::kGreater:
      out->set_result(pb::Compare::GREATER);
      break;
    case Compare::Op::kLess:
      out->set_result(pb::Compare::LESS);
      break;
  }
  switch (c.target) {
    case Compare::Target::kVersion:
      out->set_target(pb::Compare::VERSION);
      out->set_version(c.number);
      break;
    case Compare::Target::kCreateRevision:
      out->set_target(pb::Compare::CREATE);
      out->set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out->set_target(pb::Compare::MOD);
      out->set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out->set_target(pb::Compare::VALUE);
      out->set_value(c.value);
      break;
    case Compare::Target::kLease:
      out->set_target(pb::Compare::LEASE);
      out->set_lease(c.number);
      break;
  }
}

void ToProto(const TxnOp& op, pb::RequestOp* out) {
  if (const auto* p = std::get_if<TxnOp::Put>(&op.op)) {
    ToProto(p->key, p->value, p->options, out->mutable_request_put());
  } else if (const auto* g = std::get_if<TxnOp::Get>(&op.op)) {
    ToProto(g->key, g->options, out->mutable_request_range());
  } else {
    const auto& d = std::get<TxnOp::Delete>(op.op);
    ToProto(d.key, d.options, out->mutable_request_delete_range());
  }
}

}  // namespace

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Status FromGrpc(const grpc::Status& s, const std::string& what, const std::string& address,
                int64_t timeout_ms) {
  if (s.ok()) return Status::OK();
  std::string msg = "etcd " + what + " " + address + ": ";
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    msg += "no answer within " + std::to_string(timeout_ms) + " ms (deadline exceeded)";
  } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    msg += "unavailable: " + s.error_message();
  } else {
    msg += s.error_message();
  }
  return Status(FromGrpcCode(s.error_code()), msg);
}

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
}

WatchEvent FromProto(const mvccpb::Event& e) {
  WatchEvent out;
  out.type = e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
  out.kv = FromProto(e.kv());
  if (e.has_prev_kv()) out.prev_kv = FromProto(e.prev_kv());
  return out;
}

GetResult FromProto(const pb::RangeResponse& r) {
  GetResult out;
  out.revision = r.header().revision();
  out.kvs.reserve(static_cast<size_t>(r.kvs_size()));
  for (const auto& kv : r.kvs()) out.kvs.push_back(FromProto(kv));
  out.count = r.count();
  out.more = r.more();
  return out;
}

PutResult FromProto(const pb::PutResponse& r) {
  PutResult out;
  out.revision = r.header().revision();
  if (r.has_prev_kv()) out.prev_kv = FromProto(r.prev_kv());
  return out;
}

DeleteResult FromProto(const pb::DeleteRangeResponse& r) {
  DeleteResult out;
  out.revision = r.header().revision();
  out.deleted = r.deleted();
  for (const auto& kv : r.prev_kvs()) out.prev_kvs.push_back(FromProto(kv));
  return out;
}

void ToProto(const std::string& key, const GetOptions& o, pb::RangeRequest* out) {
  out->set_key(key);
  if (!o.range_end.empty()) out->set_range_end(o.range_end);
  out->set_revision(o.revision);
  out->set_limit(o.limit);
  out->set_sort_order(ToProto(o.sort_order));
  out->set_sort_target(ToProto(o.sort_target));
  out->set_keys_only(o.keys_only);
  out->set_count_only(o.count_only);
  out->set_serializable(o.serializable);
}

void ToProto(const std::string& key, const std::string& value, const PutOptions& o,
             pb::PutRequest* out) {
  out->set_key(key);
  out->set_value(value);
  out->set_lease(o.lease);
  out->set_prev_kv(o.prev_kv);
}

void ToProto(const std::string& key, const DeleteOptions& o, pb::DeleteRangeRequest* out) {
  out->set_key(key);
  if (!o.range_end.empty()) out->set_range_end(o.range_end);
  out->set_prev_kv(o.prev_kv);
}

void ToProto(const Txn& txn, pb::TxnRequest* out) {
  for (const auto& c : txn.compare) ToProto(c, out->add_compare());
  for (const auto& op : txn.then) ToProto(op, out->add_success());
  for (const auto& op : txn.otherwise) ToProto(op, out->add_failure());
}

Result<TxnResult> FromProto(const pb::TxnResponse& r) {
  TxnResult out;
  out.succeeded = r.succeeded();
  out.revision = r.header().revision();
  out.results.reserve(static_cast<size_t>(r.responses_size()));
  for (const auto& op : r.responses()) {
    switch (op.response_case()) {
      case pb::ResponseOp::kResponseRange:
        out.results.emplace_back(FromProto(op.response_range()));
        break;
      case pb::ResponseOp::kResponsePut:
        out.results.emplace_back(FromProto(op.response_put()));
        break;
      case pb::ResponseOp::kResponseDeleteRange:
        out.results.emplace_back(FromProto(op.response_delete_range()));
        break;
      default:
        return Status::IoError("etcd txn: unexpected response kind " +
                               std::to_string(static_cast<int>(op.response_case())));
    }
  }
  return out;
}

}  // namespace rdb::etcd
