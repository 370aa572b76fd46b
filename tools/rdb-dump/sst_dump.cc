// rdb-dump sst: decodes one SSTable (docs/formats/sstable.md) block by block: header, footer,
// filter, index block, then every data block with its compression and checksum status. Unlike the
// table reader it keeps going after a bad data block, so one dump shows all the damage.
#include <cinttypes>

#include "base/coding.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "lsm/format.h"
#include "lsm/table_format.h"
#include "tools/rdb-dump/dump.h"

namespace rdb::dump {
namespace {

using lsm::BlockHandle;

std::string CompressionName(uint8_t type) {
  switch (type) {
    case static_cast<uint8_t>(Compression::kNone):
      return "none";
    case static_cast<uint8_t>(Compression::kZstd):
      return "zstd";
    case static_cast<uint8_t>(Compression::kLz4):
      return "lz4";
    default:
      return "unknown(" + std::to_string(type) + ")";
  }
}

std::string HandleText(const BlockHandle& h) {
  return "@" + std::to_string(h.offset) + " size " + std::to_string(h.size);
}

// The compression byte in the trailer of the block at h, if the handle is in range.
std::string TrailerCompression(const RandomAccessFile& file, uint64_t file_size,
                               const BlockHandle& h) {
  if (h.size > lsm::kBlockBytesMax || h.offset > file_size ||
      h.size + lsm::kBlockTrailerBytes > file_size - h.offset) {
    return "?";
  }
  char c;
  Result<std::string_view> got = file.Read(h.offset + h.size, 1, &c);
  if (!got.ok() || got->size() != 1) return "?";
  return CompressionName(static_cast<uint8_t>((*got)[0]));
}

// Reads, verifies and parses the block at h. Prints the verdict after `label`.
Result<std::shared_ptr<const lsm::Block>> LoadBlock(const RandomAccessFile& file,
                                                    const std::string& path, uint64_t file_size,
                                                    const BlockHandle& h, const std::string& label,
                                                    std::ostream* out) {
  if (out) {
    *out << label << " " << HandleText(h)
         << " compression=" << TrailerCompression(file, file_size, h);
  }
  Result<std::string> contents = lsm::ReadBlock(file, path, file_size, h);
  if (!contents.ok()) {
    if (out) *out << " BAD: " << contents.status().message() << "\n";
    return contents.status();
  }
  const size_t raw = contents->size();
  Result<std::shared_ptr<const lsm::Block>> block = lsm::Block::Parse(std::move(contents).value());
  if (!block.ok()) {
    if (out) *out << " crc=ok BAD: " << block.status().message() << "\n";
    return Status::Corruption(path + ": block " + HandleText(h) + ": " + block.status().message());
  }
  if (out) *out << " crc=ok raw=" << raw << "B";
  return block;
}

bool KeyOrderOk(std::string_view prev, std::string_view key) {
  if (prev.size() < lsm::kTrailerBytes || key.size() < lsm::kTrailerBytes) return false;
  return lsm::CompareInternalKey(prev, key) < 0;
}

}  // namespace

TableScan ScanTable(Env* env, const std::string& path, const SstDumpOptions& o, std::ostream* out) {
  TableScan r;
  // print=false when the verdict is already on the current line (LoadBlock printed it).
  auto fail = [&](const std::string& why, bool print = true) {
    r.ok = false;
    if (r.error.empty()) r.error = why;
    if (out && print) *out << "BAD: " << why << "\n";
  };
  Result<std::unique_ptr<RandomAccessFile>> opened = env->NewRandomAccessFile(path);
  if (!opened.ok()) {
    r.io_error = true;
    r.error = opened.status().ToString();
    return r;
  }
  const RandomAccessFile& file = **opened;
  Result<uint64_t> size = file.Size();
  if (!size.ok()) {
    r.io_error = true;
    r.error = size.status().ToString();
    return r;
  }
  r.file_size = *size;
  r.ok = true;
  if (out) *out << "table " << path << ": " << Bytes(r.file_size) << "\n";
  if (r.file_size < lsm::kTableHeaderBytes + lsm::kTableFooterBytes) {
    fail("too short to be an SSTable (" + std::to_string(r.file_size) + " bytes)");
    return r;
  }

  char hbuf[lsm::kTableHeaderBytes];
  Result<std::string_view> h = file.Read(0, sizeof(hbuf), hbuf);
  if (!h.ok()) {
    fail(h.status().ToString());
    return r;
  }
  Status hs = lsm::CheckTableHeader(*h, path);
  if (out) {
    *out << "header: magic " << Quote(h->substr(0, 8)) << " version "
         << (h->size() >= 12 ? DecodeFixed32(h->data() + 8) : 0) << (hs.ok() ? " crc ok\n" : "\n");
  }
  if (!hs.ok()) fail(hs.message());  // keep going: the footer may still be readable

  char fbuf[lsm::kTableFooterBytes];
  Result<std::string_view> f =
      file.Read(r.file_size - lsm::kTableFooterBytes, lsm::kTableFooterBytes, fbuf);
  if (!f.ok()) {
    fail(f.status().ToString());
    return r;
  }
  Result<lsm::Footer> footer = lsm::Footer::Decode(*f, path);
  if (!footer.ok()) {
    fail(footer.status().message());
    return r;
  }
  if (out) {
    *out << "footer: magic " << Quote(f->substr(48, 8)) << " version "
         << DecodeFixed32(f->data() + 40) << " crc ok, index block " << HandleText(footer->index)
         << ", filter block "
         << (footer->filter.size == 0 ? std::string("none") : HandleText(footer->filter))
         << ", entries " << footer->entry_count << "\n";
  }

  if (footer->filter.size > 0) {
    if (out) *out << "filter:";
    Result<std::string> data = lsm::ReadBlock(file, path, r.file_size, footer->filter);
    if (!data.ok()) {
      if (out) *out << " BAD\n";
      fail(data.status().message());
    } else {
      lsm::BloomFilter bloom;
      if (data->size() < 6 || !bloom.Parse(*data)) {
        if (out) *out << " BAD\n";
        fail("malformed bloom filter (" + std::to_string(data->size()) + " bytes)");
      } else if (out) {
        const char* tail = data->data() + data->size() - 6;
        *out << " " << Bytes(data->size()) << ", " << DecodeFixed32(tail) << " lines of "
             << lsm::kBloomLineBytes << " bytes, " << static_cast<int>(tail[4])
             << " probes, hash version " << static_cast<int>(static_cast<uint8_t>(tail[5]))
             << ", crc ok\n";
      }
    }
  }

  Result<std::shared_ptr<const lsm::Block>> index =
      LoadBlock(file, path, r.file_size, footer->index, "index block", out);
  if (!index.ok()) {
    fail(index.status().message(), false);
    return r;
  }
  std::vector<BlockHandle> handles;
  {
    lsm::BlockIter it(index->get(), lsm::CompareInternalKey);
    std::vector<std::string> separators;
    for (it.SeekToFirst(); it.Valid(); it.Next()) {
      std::string_view v = it.value();
      BlockHandle bh;
      if (!bh.DecodeFrom(&v)) {
        if (out) *out << "\n";
        fail("index entry " + std::to_string(handles.size()) + ": bad block handle");
        return r;
      }
      handles.push_back(bh);
      separators.emplace_back(it.key());
    }
    if (out) *out << " entries=" << handles.size() << "\n";
    if (!it.status().ok()) fail("index block: " + it.status().message());
    if (out) {
      for (size_t i = 0; i < handles.size(); i++) {
        *out << "  [" << i << "] " << HandleText(handles[i]) << " separator "
             << DescribeInternalKey(separators[i]) << "\n";
      }
    }
  }

  std::string prev;
  for (size_t i = 0; i < handles.size(); i++) {
    r.data_blocks++;
    Result<std::shared_ptr<const lsm::Block>> block =
        LoadBlock(file, path, r.file_size, handles[i], "data block " + std::to_string(i), out);
    if (!block.ok()) {
      fail(block.status().message(), false);
      continue;
    }
    lsm::BlockIter it(block->get(), lsm::CompareInternalKey);
    uint64_t n = 0;
    std::string first, last;
    std::vector<std::string> lines;
    std::string problem;
    for (it.SeekToFirst(); it.Valid(); it.Next()) {
      lsm::ParsedInternalKey parsed;
      const bool parsed_ok = lsm::ParseInternalKey(it.key(), &parsed);
      if (!parsed_ok && problem.empty()) {
        problem = "data block " + std::to_string(i) + " entry " + std::to_string(n) +
                  ": malformed internal key " + Quote(it.key(), 128);
      }
      if (!prev.empty() && !KeyOrderOk(prev, it.key()) && problem.empty()) {
        problem = "data block " + std::to_string(i) + " entry " + std::to_string(n) + ": key " +
                  Quote(it.key(), 128) + " is not above the previous key";
      }
      prev.assign(it.key());
      if (n == 0) first = prev;
      last = prev;
      n++;
      if (o.entries) {
        std::string value = "-> ";
        if (parsed_ok && parsed.type == lsm::ValueType::kDeletion) {
          value += "(tombstone)";
        } else {
          value += DescribeIndexValue(parsed_ok ? parsed.user_key : std::string_view(), it.value(),
                                      o.value_bytes);
        }
        lines.push_back("    " + DescribeInternalKey(it.key()) + " " + value);
      }
    }
    if (r.entries == 0 && n > 0) r.smallest = first;
    if (n > 0) r.largest = last;
    r.entries += n;
    if (out) {
      *out << " entries=" << n << "\n";
      if (n > 0) {
        *out << "    first " << DescribeInternalKey(first) << "\n    last  "
             << DescribeInternalKey(last) << "\n";
      }
      for (const std::string& line : lines) *out << line << "\n";
    }
    if (!problem.empty()) fail(problem);
    if (!it.status().ok()) {
      fail("data block " + std::to_string(i) + ": " + it.status().message());
    }
  }
  if (r.ok && r.entries != footer->entry_count) {
    fail("the footer counts " + std::to_string(footer->entry_count) + " entries, the blocks hold " +
         std::to_string(r.entries));
  }
  return r;
}

int DumpSst(const std::string& path, const SstDumpOptions& o, std::ostream& out) {
  TableScan r = ScanTable(Env::Posix(), path, o, &out);
  if (r.io_error) {
    out << "error: " << r.error << "\n";
    return kExitError;
  }
  out << "summary: " << r.data_blocks << " data blocks, " << r.entries << " entries";
  if (r.entries > 0) {
    out << "\n  smallest " << DescribeInternalKey(r.smallest) << "\n  largest  "
        << DescribeInternalKey(r.largest);
  }
  out << "\nstatus: " << (r.ok ? "ok" : "BAD: " + r.error) << "\n";
  return r.ok ? kExitOk : kExitDamaged;
}

}  // namespace rdb::dump
