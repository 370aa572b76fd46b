#include "lsm/table_builder.h"

#include "base/check.h"
#include "lsm/format.h"

namespace rdb::lsm {
namespace {
constexpr size_t kWriteBufferBytes = 256 << 10;
}  // namespace

TableBuilder::TableBuilder(const TableOptions& options, WritableFile* file)
    : options_(options),
      file_(file),
      data_(options.restart_interval),
      index_(1),
      bloom_(options.bloom_bits_per_key) {
  EncodeTableHeader(&out_);
  offset_ = out_.size();
}

Status TableBuilder::Add(std::string_view ikey, std::string_view value) {
  RDB_DCHECK(!finished_);
  RDB_DCHECK(entries_ == 0 || CompareInternalKey(ikey, largest_) > 0);
  if (entries_ == 0) smallest_.assign(ikey);
  largest_.assign(ikey);
  std::string_view user_key = ExtractUserKey(ikey);
  if (options_.bloom_bits_per_key > 0 && (entries_ == 0 || user_key != last_user_key_)) {
    bloom_.AddHash(BloomHash(user_key));
    last_user_key_.assign(user_key);
  }
  data_.Add(ikey, value);
  entries_++;
  if (data_.SizeEstimate() >= options_.block_bytes) return FinishDataBlock();
  return Status::OK();
}

BlockHandle TableBuilder::EmitBlock(std::string_view contents, Compression compression) {
  size_t before = out_.size();
  AppendBlock(contents, compression, &scratch_, &out_);
  BlockHandle h;
  h.offset = offset_;
  h.size = out_.size() - before - kBlockTrailerBytes;
  offset_ += out_.size() - before;
  return h;
}

Status TableBuilder::FinishDataBlock() {
  if (data_.empty()) return Status::OK();
  BlockHandle h = EmitBlock(data_.Finish(), options_.compression);
  std::string handle;
  h.EncodeTo(&handle);
  // The index key is the block's last key: the first block whose last key >= target holds target.
  index_.Add(data_.last_key(), handle);
  data_.Reset();
  return WriteOut(false);
}

Status TableBuilder::WriteOut(bool all) {
  if (out_.empty() || (!all && out_.size() < kWriteBufferBytes)) return Status::OK();
  Status s = file_->Append(out_);
  out_.clear();
  return s;
}

Status TableBuilder::Finish() {
  RDB_DCHECK(!finished_);
  finished_ = true;
  RDB_RETURN_IF_ERROR(FinishDataBlock());
  Footer footer;
  footer.entry_count = entries_;
  if (options_.bloom_bits_per_key > 0) {
    std::string filter;
    bloom_.Finish(&filter);
    footer.filter = EmitBlock(filter, Compression::kNone);
  }
  footer.index = EmitBlock(index_.Finish(), Compression::kNone);
  footer.EncodeTo(&out_);
  offset_ += kTableFooterBytes;
  return WriteOut(true);
}

}  // namespace rdb::lsm
