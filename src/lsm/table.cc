#include "lsm/table.h"

#include <optional>

#include "base/coding.h"

namespace rdb::lsm {

Result<std::shared_ptr<const Table>> Table::Open(std::unique_ptr<RandomAccessFile> file,
                                                 std::string name, uint64_t file_size,
                                                 uint64_t cache_id,
                                                 std::shared_ptr<BlockCache> cache) {
  RDB_ASSIGN_OR_RETURN(uint64_t actual_size, file->Size());
  if (actual_size != file_size) {
    return Status::Corruption(name + ": size " + std::to_string(actual_size) +
                              " differs from the manifest's " + std::to_string(file_size));
  }
  if (file_size < kTableHeaderBytes + kTableFooterBytes) {
    return Status::Corruption(name + ": too short to be an SSTable");
  }
  char header[kTableHeaderBytes];
  RDB_ASSIGN_OR_RETURN(std::string_view h, file->Read(0, sizeof(header), header));
  RDB_RETURN_IF_ERROR(CheckTableHeader(h, name));
  char footer_buf[kTableFooterBytes];
  RDB_ASSIGN_OR_RETURN(std::string_view f,
                       file->Read(file_size - kTableFooterBytes, kTableFooterBytes, footer_buf));
  RDB_ASSIGN_OR_RETURN(Footer footer, Footer::Decode(f, name));

  std::shared_ptr<Table> t(new Table());
  t->file_ = std::move(file);
  t->name_ = std::move(name);
  t->file_size_ = file_size;
  t->cache_id_ = cache_id;
  t->cache_ = std::move(cache);
  t->footer_ = footer;

  RDB_ASSIGN_OR_RETURN(std::string index, ReadBlock(*t->file_, t->name_, file_size, footer.index));
  auto parsed = Block::Parse(std::move(index));
  if (!parsed.ok()) return t->BlockStatus(footer.index, parsed.status());
  t->index_ = std::move(parsed).value();

  if (footer.filter.size > 0) {
    RDB_ASSIGN_OR_RETURN(t->filter_data_, ReadBlock(*t->file_, t->name_, file_size, footer.filter));
    if (!t->filter_.Parse(t->filter_data_)) {
      return t->BlockStatus(footer.filter, Status::Corruption("malformed bloom filter"));
    }
    t->has_filter_ = true;
  }
  return std::shared_ptr<const Table>(std::move(t));
}

Status Table::BlockStatus(const BlockHandle& handle, const Status& s) const {
  if (s.ok()) return s;
  return Status(s.code(), name_ + ": block at offset " + std::to_string(handle.offset) + " (" +
                              std::to_string(handle.size) + " bytes): " + s.message());
}

Result<std::shared_ptr<const Block>> Table::GetBlock(const BlockHandle& handle,
                                                     bool fill_cache) const {
  std::pair<uint64_t, uint64_t> key(cache_id_, handle.offset);
  std::shared_ptr<const Block> block;
  if (cache_ != nullptr && cache_->Lookup(key, &block)) return block;
  RDB_ASSIGN_OR_RETURN(std::string contents, ReadBlock(*file_, name_, file_size_, handle));
  auto parsed = Block::Parse(std::move(contents));
  if (!parsed.ok()) return BlockStatus(handle, parsed.status());
  block = std::move(parsed).value();
  if (cache_ != nullptr && fill_cache) cache_->Insert(key, block, block->size() + 64);
  return block;
}

Status Table::Get(const LookupKey& key, uint64_t bloom_hash, LookupResult* result,
                  std::string* value) const {
  *result = LookupResult::kAbsent;
  if (has_filter_ && !filter_.MayContain(bloom_hash)) return Status::OK();
  BlockIter index_it(index_.get(), CompareInternalKey, kTrailerBytes);
  index_it.Seek(key.internal_key());
  if (!index_it.Valid()) return BlockStatus(footer_.index, index_it.status());
  std::string_view hv = index_it.value();
  BlockHandle handle;
  if (!handle.DecodeFrom(&hv)) {
    return BlockStatus(footer_.index, Status::Corruption("bad block handle in index"));
  }
  RDB_ASSIGN_OR_RETURN(std::shared_ptr<const Block> block, GetBlock(handle, true));
  BlockIter it(block.get(), CompareInternalKey, kTrailerBytes);
  it.Seek(key.internal_key());
  if (!it.Valid()) return BlockStatus(handle, it.status());
  ParsedInternalKey parsed;
  if (!ParseInternalKey(it.key(), &parsed)) {
    return BlockStatus(handle, Status::Corruption("malformed internal key"));
  }
  if (parsed.user_key != key.user_key()) return Status::OK();
  if (parsed.type == ValueType::kDeletion) {
    *result = LookupResult::kDeleted;
  } else {
    *result = LookupResult::kFound;
    value->assign(it.value());
  }
  return Status::OK();
}

// Two-level iteration: the index block picks data blocks, a BlockIter walks each.
class Table::Iter final : public InternalIterator {
 public:
  Iter(std::shared_ptr<const Table> table, bool fill_cache)
      : table_(std::move(table)),
        fill_cache_(fill_cache),
        index_it_(table_->index_.get(), CompareInternalKey, kTrailerBytes) {}

  bool Valid() const override { return data_it_.has_value() && data_it_->Valid(); }
  void SeekToFirst() override {
    index_it_.SeekToFirst();
    if (LoadBlock()) data_it_->SeekToFirst();
    SkipEmptyBlocks();
  }
  void Seek(std::string_view target) override {
    index_it_.Seek(target);
    if (LoadBlock()) data_it_->Seek(target);
    SkipEmptyBlocks();
  }
  void Next() override {
    if (!Valid()) return;
    data_it_->Next();
    SkipEmptyBlocks();
  }
  std::string_view key() const override { return data_it_->key(); }
  std::string_view value() const override { return data_it_->value(); }
  Status status() const override {
    if (!status_.ok()) return status_;
    if (!index_it_.status().ok()) {
      return table_->BlockStatus(table_->footer_.index, index_it_.status());
    }
    if (data_it_.has_value() && !data_it_->status().ok()) {
      return table_->BlockStatus(handle_, data_it_->status());
    }
    return Status::OK();
  }

 private:
  // Loads the block the index iterator points at; false at the end or on error.
  bool LoadBlock() {
    data_it_.reset();
    block_.reset();
    if (!status_.ok() || !index_it_.Valid()) return false;
    std::string_view hv = index_it_.value();
    if (!handle_.DecodeFrom(&hv)) {
      status_ = table_->BlockStatus(table_->footer_.index,
                                    Status::Corruption("bad block handle in index"));
      return false;
    }
    auto block = table_->GetBlock(handle_, fill_cache_);
    if (!block.ok()) {
      status_ = block.status();
      return false;
    }
    block_ = std::move(block).value();
    data_it_.emplace(block_.get(), CompareInternalKey, kTrailerBytes);
    return true;
  }

  void SkipEmptyBlocks() {
    while (data_it_.has_value() && !data_it_->Valid() && data_it_->status().ok()) {
      index_it_.Next();
      if (!LoadBlock()) return;
      data_it_->SeekToFirst();
    }
  }

  std::shared_ptr<const Table> table_;
  bool fill_cache_;
  BlockIter index_it_;
  BlockHandle handle_;
  std::shared_ptr<const Block> block_;
  std::optional<BlockIter> data_it_;
  Status status_;
};

std::unique_ptr<InternalIterator> Table::NewIterator(bool fill_cache) const {
  return std::make_unique<Iter>(shared_from_this(), fill_cache);
}

}  // namespace rdb::lsm
