// VersionEdit: one change to the set of live tables, as logged in the manifest
// (docs/formats/manifest.md, "Edit payload"). A manifest starts with a snapshot edit that lists
// every live table, followed by incremental edits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "lsm/format.h"

namespace rdb::lsm {

// One live SSTable. Immutable once published in a Version.
struct FileMeta {
  uint64_t number = 0;
  uint64_t file_size = 0;
  uint64_t entries = 0;
  std::string smallest;  // internal keys
  std::string largest;

  std::string_view smallest_user() const { return ExtractUserKey(smallest); }
  std::string_view largest_user() const { return ExtractUserKey(largest); }
};
using FileRef = std::shared_ptr<const FileMeta>;

struct VersionEdit {
  std::optional<uint64_t> next_file_number;
  std::optional<uint64_t> last_sequence;          // highest internal sequence in any table
  std::optional<uint64_t> flushed_seq;            // highest log seq whose writes are all in tables
  std::vector<std::pair<int, uint64_t>> deleted;  // (level, file number)
  std::vector<std::pair<int, FileMeta>> added;    // (level, file)

  void EncodeTo(std::string* dst) const;
  // kCorruption describing the first malformed field (the caller adds file and offset).
  Status DecodeFrom(std::string_view in);
};

}  // namespace rdb::lsm
