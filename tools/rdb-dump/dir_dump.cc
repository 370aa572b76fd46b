// rdb-dump dir: a summary of a whole data directory (docs/design/engine.md, "Files"): FORMAT,
// LOCK, SEQUENCER, the log segments with their seq ranges, and the index's live tables per level.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/coding.h"
#include "base/crc32c.h"
#include "log/event_log.h"
#include "lsm/format.h"
#include "tools/rdb-dump/dump.h"

namespace rdb::dump {
namespace {

constexpr char kSequencerMagic[8] = {'R', 'D', 'B', 'S', 'E', 'Q', '\0', '\1'};
constexpr size_t kSequencerBytes = 24;

// Who holds an flock on path, from /proc/locks (read-only: rdb-dump never takes the lock itself).
std::string LockHolder(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "absent";
  std::ifstream locks("/proc/locks");
  if (!locks) return "present (holder unknown: no /proc/locks)";
  std::string line;
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF" (device numbers in hex).
    std::istringstream in(line);
    std::string id, kind, mode, access, pid, dev;
    if (!(in >> id >> kind >> mode >> access >> pid >> dev) || kind != "FLOCK") continue;
    unsigned maj = 0, min = 0;
    unsigned long long ino = 0;
    if (std::sscanf(dev.c_str(), "%x:%x:%llu", &maj, &min, &ino) != 3) continue;
    if (maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino) {
      return "held by pid " + pid + " (a server is running: files may change while being read)";
    }
  }
  return "present, not held (no server running)";
}

std::string SequencerText(Env* env, const std::string& path, bool* damaged) {
  if (!env->FileExists(path)) return "absent (a new database, or not yet written)";
  std::string data;
  Status s = ReadFileToString(env, path, &data);
  if (!s.ok()) {
    *damaged = true;
    return "unreadable: " + s.ToString();
  }
  if (data.size() != kSequencerBytes || data.compare(0, 8, std::string_view(kSequencerMagic, 8))) {
    *damaged = true;
    return "BAD: not a sequencer file (" + std::to_string(data.size()) + " bytes, magic " +
           Quote(std::string_view(data).substr(0, 8)) + ")";
  }
  const uint32_t version = DecodeFixed32(data.data() + 8);
  const uint64_t reserved = DecodeFixed64(data.data() + 12);
  const bool crc_ok =
      crc32c::Unmask(DecodeFixed32(data.data() + 20)) == crc32c::Value(data.data(), 20);
  if (!crc_ok) *damaged = true;
  return "version " + std::to_string(version) + ", reserved " + std::to_string(reserved) +
         (crc_ok ? ", crc ok" : ", BAD crc");
}

std::optional<uint64_t> SegmentNumber(std::string_view name) {
  if (name.size() != 20 || !name.ends_with(".log")) return std::nullopt;
  uint64_t n = 0;
  for (char c : name.substr(0, 16)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::string SeqRange(uint64_t first, uint64_t last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

// Prints the segments; returns false if any holds damage that recovery would refuse.
bool DumpLogDir(Env* env, const std::string& log_dir, std::ostream& out) {
  Result<std::vector<std::string>> children = env->GetChildren(log_dir);
  if (!children.ok()) {
    out << "log/: " << children.status().ToString() << "\n";
    return false;
  }
  std::vector<uint64_t> numbers;
  for (const std::string& c : *children) {
    if (auto n = SegmentNumber(c)) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());
  out << "log/: " << numbers.size() << (numbers.size() == 1 ? " segment\n" : " segments\n");
  bool ok = true;
  uint64_t total = 0, records = 0, first_seq = 0, last_seq = 0;
  std::optional<uint64_t> prev_base;
  for (size_t i = 0; i < numbers.size(); i++) {
    const bool last = i + 1 == numbers.size();
    const std::string name = EventLog::SegmentFileName(numbers[i]);
    SegmentScan s = ScanSegment(env, JoinPath(log_dir, name), LogDumpOptions{}, nullptr);
    total += s.file_size;
    records += s.records;
    out << "  " << name << "  " << Bytes(s.file_size);
    std::vector<std::string> problems;
    if (!s.io_error.empty()) problems.push_back("unreadable: " + s.io_error);
    if (s.header_ok) {
      out << "  base_seq " << s.base_seq;
      if (s.number != numbers[i]) {
        problems.push_back("its header names segment " + std::to_string(s.number));
      }
      if (prev_base && s.base_seq <= *prev_base) {
        problems.push_back("base seq not above the previous segment's " +
                           std::to_string(*prev_base));
      }
      prev_base = s.base_seq;
    } else if (s.io_error.empty()) {
      problems.push_back(last ? "header BAD (" + s.header_error +
                                    "); recovery removes the segment if no valid record follows"
                              : "header BAD: " + s.header_error);
    }
    if (i > 0 && numbers[i] != numbers[i - 1] + 1) {
      problems.push_back("segment " + std::to_string(numbers[i - 1] + 1) + " is missing");
    }
    out << "  " << s.records << " records";
    if (s.records > 0) {
      out << "  seqs " << SeqRange(s.first_seq, s.last_seq);
      if (first_seq == 0) first_seq = s.first_seq;
      if (s.first_seq <= last_seq) {
        problems.push_back("seqs overlap the previous segment (which ends at " +
                           std::to_string(last_seq) + ")");
      }
      last_seq = s.last_seq;
    }
    std::string note;
    if (s.zero_tail_bytes > 0) {
      note = "zero-filled (preallocated) tail of " + std::to_string(s.zero_tail_bytes) + " bytes";
    }
    if (s.bad_offset) {
      if (last && !s.next_valid_offset) {
        note = "torn tail at offset " + std::to_string(*s.bad_offset) + " (" + s.bad_reason +
               "): the next start cuts " + std::to_string(s.file_size - *s.bad_offset) + " bytes";
      } else {
        problems.push_back(
            "frame at offset " + std::to_string(*s.bad_offset) + ": " + s.bad_reason +
            (s.next_valid_offset
                 ? "; a valid record follows at offset " + std::to_string(*s.next_valid_offset)
                 : "") +
            " (rdb-dump log " + name + " --records)");
      }
    }
    if (problems.empty()) {
      out << "  ok" << (note.empty() ? "" : "; " + note) << "\n";
    } else {
      ok = false;
      out << "\n";
      for (const std::string& p : problems) out << "    BAD: " << p << "\n";
    }
  }
  if (records > 0) {
    out << "  log total: seqs " << SeqRange(first_seq, last_seq) << ", " << records << " records, "
        << Bytes(total) << "\n";
  }
  return ok;
}

bool DumpIndexDir(Env* env, const std::string& index_dir, std::ostream& out) {
  if (!env->FileExists(index_dir)) {
    out << "index/: absent (a new database; the next start builds it from the log)\n";
    return true;
  }
  ManifestScan m = ScanManifest(env, index_dir, nullptr);
  out << "index/: " << (m.note.empty() ? m.path : m.note) << "\n";
  if (!m.ok) {
    out << "  BAD: " << m.error << "\n";
    return false;
  }
  out << "  next_file=" << m.next_file_number.value_or(0)
      << " last_sequence=" << m.last_sequence.value_or(0)
      << " flushed_seq=" << m.flushed_seq.value_or(0)
      << " (the next start replays the log after seq " << m.flushed_seq.value_or(0) << ")\n";
  bool ok = true;
  std::vector<std::string> live_names;
  for (int level = 0; level < lsm::kNumLevels; level++) {
    std::vector<const TableInfo*> tables;
    uint64_t bytes = 0;
    for (const TableInfo& t : m.live) {
      if (t.level != level) continue;
      tables.push_back(&t);
      bytes += t.file_size;
    }
    if (tables.empty()) continue;
    out << "  L" << level << ": " << tables.size() << " tables, " << Bytes(bytes) << "\n";
    for (const TableInfo* t : tables) {
      const std::string name = lsm::TableFileName(t->number);
      live_names.push_back(name);
      out << "    " << name << "  " << Bytes(t->file_size) << "  " << t->entries << " entries  "
          << DescribeInternalKey(t->smallest) << " .. " << DescribeInternalKey(t->largest);
      Result<uint64_t> size = env->GetFileSize(JoinPath(index_dir, name));
      if (!size.ok()) {
        out << "  MISSING";
        ok = false;
      } else if (*size != t->file_size) {
        out << "  SIZE MISMATCH (" << *size << " bytes on disk)";
        ok = false;
      }
      out << "\n";
    }
  }
  if (m.live.empty()) out << "  no live tables (everything is still in the log only)\n";
  Result<std::vector<std::string>> children = env->GetChildren(index_dir);
  if (children.ok()) {
    std::vector<std::string> others;
    const std::string current_manifest = m.path.substr(m.path.find_last_of('/') + 1);
    for (const std::string& c : *children) {
      uint64_t n = 0;
      lsm::FileType type = lsm::ParseFileName(c, &n);
      if ((type == lsm::FileType::kTable &&
           std::find(live_names.begin(), live_names.end(), c) == live_names.end()) ||
          (type == lsm::FileType::kManifest && c != current_manifest) ||
          type == lsm::FileType::kTemp) {
        others.push_back(c);
      }
    }
    std::sort(others.begin(), others.end());
    if (!others.empty()) {
      out << "  not live (removed at the next open):";
      for (const std::string& o : others) out << " " << o;
      out << "\n";
    }
  }
  return ok;
}

}  // namespace

int DumpDir(const std::string& dir, std::ostream& out) {
  Env* env = Env::Posix();
  if (!env->FileExists(dir)) {
    out << "error: " << dir << " does not exist\n";
    return kExitError;
  }
  bool damaged = false;
  out << "data directory " << dir << "\n";
  const std::string format_path = JoinPath(dir, "FORMAT");
  if (env->FileExists(format_path)) {
    std::string format;
    Status s = ReadFileToString(env, format_path, &format);
    if (!format.empty() && format.back() == '\n') format.pop_back();
    out << "FORMAT: " << (s.ok() ? Quote(format, 128) : s.ToString()) << "\n";
  } else {
    out << "FORMAT: absent (not an RDeeBee data directory, or never opened)\n";
  }
  out << "LOCK: " << LockHolder(JoinPath(dir, "LOCK")) << "\n";
  out << "SEQUENCER: " << SequencerText(env, JoinPath(dir, "SEQUENCER"), &damaged) << "\n";
  const std::string log_dir = JoinPath(dir, "log");
  if (env->FileExists(log_dir)) {
    if (!DumpLogDir(env, log_dir, out)) damaged = true;
  } else {
    out << "log/: absent\n";
  }
  if (!DumpIndexDir(env, JoinPath(dir, "index"), out)) damaged = true;
  out << "status: " << (damaged ? "BAD" : "ok") << "\n";
  return damaged ? kExitDamaged : kExitOk;
}

}  // namespace rdb::dump
