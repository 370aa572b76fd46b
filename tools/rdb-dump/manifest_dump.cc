// rdb-dump manifest: every version edit of an LSM manifest (docs/formats/manifest.md) and the live
// set of tables that replaying them gives, checked the way the tree checks it at open.
#include <algorithm>
#include <array>
#include <filesystem>
#include <map>

#include "lsm/format.h"
#include "lsm/manifest.h"
#include "lsm/version.h"
#include "lsm/version_edit.h"
#include "tools/rdb-dump/dump.h"

namespace rdb::dump {
namespace {

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

// The newest MANIFEST-* in dir, or "".
std::string NewestManifest(Env* env, const std::string& dir) {
  Result<std::vector<std::string>> children = env->GetChildren(dir);
  if (!children.ok()) return "";
  uint64_t best = 0;
  std::string name;
  for (const std::string& c : *children) {
    uint64_t n = 0;
    if (lsm::ParseFileName(c, &n) == lsm::FileType::kManifest && (name.empty() || n > best)) {
      best = n;
      name = c;
    }
  }
  return name;
}

std::string FileLine(int level, const lsm::FileMeta& f) {
  return "L" + std::to_string(level) + " #" + std::to_string(f.number) + " (" +
         lsm::TableFileName(f.number) + ") " + Bytes(f.file_size) + ", " +
         std::to_string(f.entries) + " entries, " + DescribeInternalKey(f.smallest) + " .. " +
         DescribeInternalKey(f.largest);
}

}  // namespace

ManifestScan ScanManifest(Env* env, const std::string& path, std::ostream* out) {
  ManifestScan r;
  std::string file = path;
  if (IsDirectory(path)) {
    std::string dir = path;
    if (IsDirectory(JoinPath(path, "index"))) dir = JoinPath(path, "index");
    Result<std::string> current = lsm::ReadCurrent(env, dir);
    if (current.ok()) {
      file = JoinPath(dir, *current);
      r.note = std::string(lsm::kCurrentFileName) + " names " + *current;
    } else {
      std::string newest = NewestManifest(env, dir);
      if (newest.empty()) {
        r.path = dir;
        r.error = current.status().message() + "; no MANIFEST-* file in " + dir;
        return r;
      }
      file = JoinPath(dir, newest);
      r.note = current.status().message() + "; using the newest manifest, " + newest;
      // A CURRENT that exists but cannot be read is damage; a missing one is a new tree.
      if (current.status().code() != Code::kNotFound) r.error = current.status().message();
    }
  }
  r.path = file;
  if (out) {
    *out << "manifest " << file;
    Result<uint64_t> size = env->GetFileSize(file);
    if (size.ok()) *out << ": " << Bytes(*size);
    *out << "\n";
    if (!r.note.empty()) *out << "  (" << r.note << ")\n";
  }

  std::array<std::map<uint64_t, lsm::FileMeta>, lsm::kNumLevels> levels;
  auto apply = [&](std::string_view payload, uint64_t offset) -> Status {
    lsm::VersionEdit edit;
    Status s = edit.DecodeFrom(payload);
    if (out) {
      *out << "edit @" << offset << " (" << payload.size() << " bytes):";
      if (edit.next_file_number) *out << " next_file=" << *edit.next_file_number;
      if (edit.last_sequence) *out << " last_sequence=" << *edit.last_sequence;
      if (edit.flushed_seq) *out << " flushed_seq=" << *edit.flushed_seq;
      *out << " added=" << edit.added.size() << " deleted=" << edit.deleted.size() << "\n";
      for (const auto& [level, number] : edit.deleted) {
        *out << "  - L" << level << " #" << number << "\n";
      }
      for (const auto& [level, f] : edit.added) *out << "  + " << FileLine(level, f) << "\n";
    }
    RDB_RETURN_IF_ERROR(s);
    if (edit.next_file_number) r.next_file_number = edit.next_file_number;
    if (edit.last_sequence) r.last_sequence = edit.last_sequence;
    if (edit.flushed_seq) r.flushed_seq = edit.flushed_seq;
    for (const auto& [level, number] : edit.deleted) {
      if (levels[level].erase(number) == 0) {
        return Status::Corruption("edit deletes table " + std::to_string(number) +
                                  " which is not in level " + std::to_string(level));
      }
    }
    for (const auto& [level, f] : edit.added) {
      if (!levels[level].emplace(f.number, f).second) {
        return Status::Corruption("edit adds table " + std::to_string(f.number) + " twice");
      }
    }
    return Status::OK();
  };
  Result<lsm::ManifestReadResult> read = lsm::ReadManifest(env, file, apply);
  if (!read.ok()) {
    if (r.error.empty()) r.error = read.status().message();
    if (out) *out << "BAD: " << read.status().message() << "\n";
  } else {
    r.records = read->records;
    r.torn_tail = read->torn_tail;
    if (out && read->torn_tail) {
      *out << "torn tail after offset " << read->valid_bytes
           << ": an incomplete last record (a write cut by a crash; never acknowledged)\n";
    }
  }

  lsm::VersionEdit all;
  for (int level = 0; level < lsm::kNumLevels; level++) {
    for (const auto& [number, f] : levels[level]) {
      r.live.push_back({level, f.number, f.file_size, f.entries, f.smallest, f.largest});
      all.added.emplace_back(level, f);
    }
  }
  if (read.ok()) {
    if (read->records == 0 || !r.next_file_number || !r.last_sequence) {
      if (r.error.empty()) r.error = file + ": manifest holds no snapshot record";
    }
    auto state = lsm::Version::Apply(lsm::Version(), all);
    if (!state.ok() && r.error.empty()) r.error = file + ": " + state.status().message();
  }
  r.ok = r.error.empty();
  return r;
}

int DumpManifest(const std::string& path, std::ostream& out) {
  Env* env = Env::Posix();
  if (!env->FileExists(path)) {
    out << "error: " << path << " does not exist\n";
    return kExitError;
  }
  ManifestScan r = ScanManifest(env, path, &out);
  bool damaged = !r.ok;
  out << "live set: next_file=" << (r.next_file_number ? std::to_string(*r.next_file_number) : "?")
      << " last_sequence=" << (r.last_sequence ? std::to_string(*r.last_sequence) : "?")
      << " flushed_seq=" << r.flushed_seq.value_or(0) << "\n";
  const std::string dir = DirName(r.path);
  uint64_t total = 0;
  for (int level = 0; level < lsm::kNumLevels; level++) {
    uint64_t n = 0;
    uint64_t bytes = 0;
    for (const TableInfo& t : r.live) {
      if (t.level == level) {
        n++;
        bytes += t.file_size;
      }
    }
    if (n == 0) continue;
    total += bytes;
    out << "  L" << level << ": " << n << " tables, " << Bytes(bytes) << "\n";
    for (const TableInfo& t : r.live) {
      if (t.level != level) continue;
      const std::string name = lsm::TableFileName(t.number);
      out << "    " << name << " " << Bytes(t.file_size) << ", " << t.entries << " entries, "
          << DescribeInternalKey(t.smallest) << " .. " << DescribeInternalKey(t.largest);
      Result<uint64_t> size = env->GetFileSize(JoinPath(dir, name));
      if (!size.ok()) {
        out << "  MISSING";
        damaged = true;
      } else if (*size != t.file_size) {
        out << "  SIZE MISMATCH: the file holds " << *size << " bytes";
        damaged = true;
      }
      out << "\n";
    }
  }
  out << "summary: " << r.records << " edits, " << r.live.size() << " live tables, " << Bytes(total)
      << "\n";
  if (!r.ok)
    out << "status: BAD: " << r.error << "\n";
  else
    out << "status: " << (damaged ? "BAD: live tables missing or of the wrong size" : "ok") << "\n";
  return damaged ? kExitDamaged : kExitOk;
}

}  // namespace rdb::dump
