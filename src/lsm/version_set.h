// VersionSet: the durable state of the tree — the current Version plus the counters — and the
// manifest that records it (docs/formats/manifest.md).
//
// LogAndApply appends an edit to the manifest, syncs it, and only then installs the new Version,
// so an installed state is always durable. If a manifest write fails, the manifest is abandoned:
// the next edit starts a new manifest from a full snapshot and repoints CURRENT. Until that
// succeeds, no file is deleted, because the failed edit may or may not have reached the disk.
//
// Obsolete files (tables in no live Version and not being written, old manifests) are deleted by
// DeleteObsoleteFiles, after the edit that dropped them is durable.
//
// Thread-safe. LogAndApply and DeleteObsoleteFiles serialise on an internal mutex held across
// their I/O; the tree's readers never take it (they use the Version the tree publishes).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "io/env.h"
#include "lsm/manifest.h"
#include "lsm/mutex.h"
#include "lsm/table_cache.h"
#include "lsm/version.h"
#include "lsm/version_edit.h"

namespace rdb::lsm {

class VersionSet {
 public:
  // A manifest is rolled (rewritten as a snapshot) once it grows beyond this.
  static constexpr uint64_t kManifestBytesMax = 4ull << 20;

  VersionSet(Env* env, std::string dir);
  VersionSet(const VersionSet&) = delete;
  VersionSet& operator=(const VersionSet&) = delete;

  // Loads CURRENT and the manifest it names. Without a CURRENT, falls back to the newest manifest
  // that holds a whole snapshot; kNotFound if there is none (a new tree). kNotSupported for a
  // manifest of another format version; kCorruption naming file and offset.
  Status Recover();
  // Starts a fresh manifest holding the current state and points CURRENT at it. Open calls it
  // after Recover (or for a new tree) so that the log never continues after a torn tail.
  Status WriteSnapshot();
  // Persists edit (filling in the counters) and installs the resulting Version.
  Status LogAndApply(VersionEdit* edit);

  std::shared_ptr<const Version> current() const;
  // Allocates a file number and marks it as being written (not deletable).
  uint64_t NewFileNumber();
  // The file is installed or abandoned: DeleteObsoleteFiles may judge it again.
  void ReleaseFileNumber(uint64_t number);

  uint64_t last_sequence() const { return last_sequence_.load(std::memory_order_acquire); }
  uint64_t flushed_seq() const { return flushed_seq_.load(std::memory_order_acquire); }
  uint64_t manifest_number() const;

  // Deletes tables that no live Version references and that are not being written, and every
  // manifest but the current one. Skipped while a failed manifest write is unresolved. Returns the
  // number of files deleted; deletion errors are retried on the next call.
  int DeleteObsoleteFiles(TableCache* cache, bool include_temp);

 private:
  Status RecoverFrom(const std::string& manifest_name);
  Status RollManifest(const Version& v, uint64_t last_sequence, uint64_t flushed_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  VersionEdit SnapshotEdit(const Version& v, uint64_t last_sequence, uint64_t flushed_seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Install(std::shared_ptr<const Version> v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const env_;
  const std::string dir_;
  mutable Mutex mu_;
  std::shared_ptr<const Version> current_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<const Version>> versions_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_file_number_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t manifest_number_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<ManifestWriter> manifest_ ABSL_GUARDED_BY(mu_);
  bool manifest_failed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> last_sequence_{0};
  std::atomic<uint64_t> flushed_seq_{0};
};

}  // namespace rdb::lsm
