#include "lsm/table_cache.h"

#include "lsm/format.h"

namespace rdb::lsm {

TableCache::TableCache(Env* env, std::string dir, int max_open_tables,
                       std::shared_ptr<BlockCache> block_cache)
    : env_(env),
      dir_(std::move(dir)),
      block_cache_(std::move(block_cache)),
      tables_(static_cast<size_t>(max_open_tables < 1 ? 1 : max_open_tables), 64) {}

Result<std::shared_ptr<const Table>> TableCache::Get(uint64_t number, uint64_t file_size) {
  std::shared_ptr<const Table> table;
  if (tables_.Lookup(number, &table)) return table;
  std::string path = JoinPath(dir_, TableFileName(number));
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    if (file.status().code() == Code::kNotFound) {
      return Status::Corruption(path + ": live table file is missing");
    }
    return file.status();
  }
  RDB_ASSIGN_OR_RETURN(table,
                       Table::Open(std::move(file).value(), path, file_size, number, block_cache_));
  tables_.Insert(number, table, 1);
  return table;
}

void TableCache::Evict(uint64_t number) { tables_.Erase(number); }

}  // namespace rdb::lsm
