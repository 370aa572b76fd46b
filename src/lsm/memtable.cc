#include "lsm/memtable.h"

#include <algorithm>
#include <bit>

#include <xxhash.h>

namespace rdb::lsm {
namespace {

// Decodes a varint32 from memory known to hold a well-formed one (we wrote it).
inline const char* DecodeTrustedVarint32(const char* p, uint32_t* v) {
  if (static_cast<uint8_t>(*p) < 128) {
    *v = static_cast<uint8_t>(*p);
    return p + 1;
  }
  uint32_t result = 0;
  for (int shift = 0;; shift += 7) {
    uint32_t byte = static_cast<unsigned char>(*p++);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  *v = result;
  return p;
}

inline uint64_t KeyHash(std::string_view user_key) {
  return XXH3_64bits(user_key.data(), user_key.size());
}

inline std::string_view EntryValue(std::string_view ikey) {
  uint32_t n;
  const char* p = DecodeTrustedVarint32(ikey.data() + ikey.size(), &n);
  return {p, n};
}

}  // namespace

std::string_view MemEntryKey(const char* entry) {
  uint32_t n;
  const char* p = DecodeTrustedVarint32(entry, &n);
  return {p, n};
}

int MemTable::EntryCmp::operator()(const char* entry, const SearchKey& key) const {
  std::string_view ikey = MemEntryKey(entry);
  int r = CompareUserKey(ExtractUserKey(ikey), key.user_key);
  if (r != 0) return r;
  uint64_t t = ExtractTrailer(ikey);
  return t > key.trailer ? -1 : (t < key.trailer ? 1 : 0);
}

MemTable::MemTable(size_t arena_block_bytes, size_t hash_buckets)
    : arena_(arena_block_bytes),
      list_(EntryCmp{}, &arena_),
      bucket_count_(std::bit_ceil(std::clamp(hash_buckets, kHashBucketsMin, kHashBucketsMax))),
      buckets_(new Bucket[bucket_count_]) {
  for (size_t i = 0; i < bucket_count_; i++) buckets_[i].store(nullptr, std::memory_order_relaxed);
}

void MemTable::Add(uint64_t seq, ValueType type, std::string_view key, std::string_view value,
                   uint64_t log_seq) {
  size_t ikey_bytes = key.size() + kTrailerBytes;
  size_t total = VarintLength(ikey_bytes) + ikey_bytes + VarintLength(value.size()) + value.size();
  char* buf = list_.AllocateKey(total, kChainBytes);
  char* p = EncodeVarint64(buf, ikey_bytes);
  const char* stored_key = p;
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  p += key.size();
  const uint64_t trailer = PackTrailer(seq, type);
  EncodeFixed64(p, trailer);
  p += kTrailerBytes;
  p = EncodeVarint64(p, value.size());
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  list_.Insert(buf, SearchKey{std::string_view(stored_key, key.size()), trailer});

  const uint64_t hash = KeyHash(key);
  Bucket& bucket = buckets_[hash & (bucket_count_ - 1)];
  const char* older = bucket.load(std::memory_order_relaxed);
  std::memcpy(buf - kChainBytes, &older, kChainBytes);
  bucket.store(buf, std::memory_order_release);

  if (first_log_seq_.load(std::memory_order_relaxed) == 0 &&
      entries_.load(std::memory_order_relaxed) == 0) {
    first_log_seq_.store(log_seq, std::memory_order_release);
  }
  if (log_seq > last_log_seq_.load(std::memory_order_relaxed)) {
    last_log_seq_.store(log_seq, std::memory_order_release);
  }
  last_seq_.store(seq, std::memory_order_release);
  entries_.fetch_add(1, std::memory_order_release);
}

LookupResult MemTable::Get(const LookupKey& key, std::string* value) const {
  // A LookupKey asks for the newest entry, which is the first match on the key's chain.
  const std::string_view user_key = key.user_key();
  const uint64_t hash = KeyHash(user_key);
  const char* entry = buckets_[hash & (bucket_count_ - 1)].load(std::memory_order_acquire);
  std::string_view found;
  while (entry != nullptr) {
    found = MemEntryKey(entry);
    if (ExtractUserKey(found) == user_key) break;
    std::memcpy(&entry, entry - kChainBytes, kChainBytes);
  }
  if (entry == nullptr) return LookupResult::kAbsent;
  if (static_cast<ValueType>(ExtractTrailer(found) & 0xff) == ValueType::kDeletion) {
    return LookupResult::kDeleted;
  }
  std::string_view v = EntryValue(found);
  value->assign(v.data(), v.size());
  return LookupResult::kFound;
}

class MemTable::Iter final : public InternalIterator {
 public:
  explicit Iter(std::shared_ptr<const MemTable> mem) : mem_(std::move(mem)), it_(&mem_->list_) {}

  bool Valid() const override { return it_.Valid(); }
  void SeekToFirst() override { it_.SeekToFirst(); }
  void Seek(std::string_view target) override {
    it_.Seek(SearchKey{ExtractUserKey(target), ExtractTrailer(target)});
  }
  void Next() override { it_.Next(); }
  std::string_view key() const override { return MemEntryKey(it_.key()); }
  std::string_view value() const override { return EntryValue(MemEntryKey(it_.key())); }
  Status status() const override { return Status::OK(); }

 private:
  std::shared_ptr<const MemTable> mem_;
  SkipList<EntryCmp>::Iterator it_;
};

std::unique_ptr<InternalIterator> MemTable::NewIterator() const {
  return std::make_unique<Iter>(shared_from_this());
}

}  // namespace rdb::lsm
