#include "lsm/table_format.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>

#include "base/coding.h"
#include "base/crc32c.h"

namespace rdb::lsm {
namespace {

constexpr int kZstdLevel = 1;  // fast; index blocks are small and mostly incompressible anyway

std::string BlockError(const std::string& name, const BlockHandle& h, std::string_view what) {
  return name + ": block at offset " + std::to_string(h.offset) + " (" + std::to_string(h.size) +
         " bytes): " + std::string(what);
}

Status Decompress(uint8_t type, std::string_view payload, std::string* out, std::string* err) {
  uint32_t raw_bytes;
  if (!GetVarint32(&payload, &raw_bytes) || raw_bytes > kBlockBytesMax) {
    *err = "bad uncompressed size";
    return Status::Corruption("");
  }
  out->resize(raw_bytes);
  if (type == static_cast<uint8_t>(Compression::kZstd)) {
    size_t n = ZSTD_decompress(out->data(), raw_bytes, payload.data(), payload.size());
    if (ZSTD_isError(n) || n != raw_bytes) {
      *err = std::string("zstd: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
      return Status::Corruption("");
    }
  } else {
    int n = LZ4_decompress_safe(payload.data(), out->data(), static_cast<int>(payload.size()),
                                static_cast<int>(raw_bytes));
    if (n < 0 || static_cast<uint32_t>(n) != raw_bytes) {
      *err = "lz4 payload does not decode";
      return Status::Corruption("");
    }
  }
  return Status::OK();
}

}  // namespace

void BlockHandle::EncodeTo(std::string* dst) const {
  PutVarint64(dst, offset);
  PutVarint64(dst, size);
}

bool BlockHandle::DecodeFrom(std::string_view* in) {
  return GetVarint64(in, &offset) && GetVarint64(in, &size);
}

void EncodeTableHeader(std::string* dst) {
  size_t start = dst->size();
  dst->append(kTableMagic, sizeof(kTableMagic));
  PutFixed32(dst, kTableFormatVersion);
  PutFixed32(dst, crc32c::Mask(crc32c::Value(dst->data() + start, 12)));
}

Status CheckTableHeader(std::string_view bytes, const std::string& name) {
  if (bytes.size() < kTableHeaderBytes || std::memcmp(bytes.data(), kTableMagic, 8) != 0) {
    return Status::Corruption(name + ": not an SSTable (bad header magic)");
  }
  uint32_t version = DecodeFixed32(bytes.data() + 8);
  if (crc32c::Unmask(DecodeFixed32(bytes.data() + 12)) != crc32c::Value(bytes.data(), 12)) {
    return Status::Corruption(name + ": header checksum mismatch");
  }
  if (version != kTableFormatVersion) {
    return Status::NotSupported(name + ": SSTable format version " + std::to_string(version) +
                                " is not supported (this build reads version " +
                                std::to_string(kTableFormatVersion) + ")");
  }
  return Status::OK();
}

void Footer::EncodeTo(std::string* dst) const {
  size_t start = dst->size();
  PutFixed64(dst, index.offset);
  PutFixed64(dst, index.size);
  PutFixed64(dst, filter.offset);
  PutFixed64(dst, filter.size);
  PutFixed64(dst, entry_count);
  PutFixed32(dst, kTableFormatVersion);
  PutFixed32(dst, crc32c::Mask(crc32c::Value(dst->data() + start, 44)));
  dst->append(kTableMagic, sizeof(kTableMagic));
}

Result<Footer> Footer::Decode(std::string_view bytes, const std::string& name) {
  if (bytes.size() != kTableFooterBytes || std::memcmp(bytes.data() + 48, kTableMagic, 8) != 0) {
    return Status::Corruption(name + ": not an SSTable (bad footer magic)");
  }
  const char* p = bytes.data();
  uint32_t version = DecodeFixed32(p + 40);
  if (crc32c::Unmask(DecodeFixed32(p + 44)) != crc32c::Value(p, 44)) {
    return Status::Corruption(name + ": footer checksum mismatch");
  }
  if (version != kTableFormatVersion) {
    return Status::NotSupported(name + ": SSTable format version " + std::to_string(version) +
                                " is not supported (this build reads version " +
                                std::to_string(kTableFormatVersion) + ")");
  }
  Footer f;
  f.index.offset = DecodeFixed64(p);
  f.index.size = DecodeFixed64(p + 8);
  f.filter.offset = DecodeFixed64(p + 16);
  f.filter.size = DecodeFixed64(p + 24);
  f.entry_count = DecodeFixed64(p + 32);
  return f;
}

void AppendBlock(std::string_view contents, Compression compression, std::string* scratch,
                 std::string* dst) {
  std::string_view payload = contents;
  uint8_t type = static_cast<uint8_t>(Compression::kNone);
  if (compression != Compression::kNone && !contents.empty()) {
    scratch->clear();
    PutVarint32(scratch, static_cast<uint32_t>(contents.size()));
    size_t head = scratch->size();
    size_t n = 0;
    if (compression == Compression::kZstd) {
      size_t bound = ZSTD_compressBound(contents.size());
      scratch->resize(head + bound);
      n = ZSTD_compress(scratch->data() + head, bound, contents.data(), contents.size(),
                        kZstdLevel);
      if (ZSTD_isError(n)) n = 0;
    } else {
      int bound = LZ4_compressBound(static_cast<int>(contents.size()));
      scratch->resize(head + static_cast<size_t>(bound));
      int r = LZ4_compress_default(contents.data(), scratch->data() + head,
                                   static_cast<int>(contents.size()), bound);
      n = r > 0 ? static_cast<size_t>(r) : 0;
    }
    if (n > 0 && head + n < contents.size() - contents.size() / 8) {
      scratch->resize(head + n);
      payload = *scratch;
      type = static_cast<uint8_t>(compression);
    }
  }
  dst->append(payload.data(), payload.size());
  dst->push_back(static_cast<char>(type));
  uint32_t crc = crc32c::Value(payload.data(), payload.size());
  crc = crc32c::Extend(crc, reinterpret_cast<const char*>(&type), 1);
  PutFixed32(dst, crc32c::Mask(crc));
}

Result<std::string> ReadBlock(const RandomAccessFile& file, const std::string& name,
                              uint64_t file_size, const BlockHandle& handle) {
  if (file_size < kTableHeaderBytes + kTableFooterBytes || handle.offset < kTableHeaderBytes ||
      handle.size > kBlockBytesMax ||
      handle.offset + handle.size + kBlockTrailerBytes > file_size - kTableFooterBytes) {
    return Status::Corruption(BlockError(name, handle, "block handle out of range"));
  }
  size_t n = static_cast<size_t>(handle.size) + kBlockTrailerBytes;
  std::string buf(n, '\0');
  RDB_ASSIGN_OR_RETURN(std::string_view got, file.Read(handle.offset, n, buf.data()));
  if (got.size() != n) return Status::Corruption(BlockError(name, handle, "truncated block"));
  if (got.data() != buf.data()) std::memcpy(buf.data(), got.data(), n);
  const char* trailer = buf.data() + handle.size;
  uint32_t expected = crc32c::Unmask(DecodeFixed32(trailer + 1));
  uint32_t actual = crc32c::Value(buf.data(), handle.size + 1);
  if (expected != actual) {
    return Status::Corruption(BlockError(name, handle, "checksum mismatch"));
  }
  uint8_t type = static_cast<uint8_t>(trailer[0]);
  if (type == static_cast<uint8_t>(Compression::kNone)) {
    buf.resize(handle.size);
    return buf;
  }
  if (type != static_cast<uint8_t>(Compression::kZstd) &&
      type != static_cast<uint8_t>(Compression::kLz4)) {
    return Status::Corruption(
        BlockError(name, handle, "unknown compression type " + std::to_string(type)));
  }
  std::string out;
  std::string err;
  if (!Decompress(type, std::string_view(buf.data(), handle.size), &out, &err).ok()) {
    return Status::Corruption(BlockError(name, handle, err));
  }
  return out;
}

}  // namespace rdb::lsm
