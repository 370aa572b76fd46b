// SSTable framing: file header, block handles, block trailers (compression + checksum) and the
// footer. The byte layout is documented in docs/formats/sstable.md; keep the two in step.
//
//   file   := header(16) | data block* | filter block | index block | footer(56)
//   block  := payload | u8 compression | fixed32 masked crc32c(payload | compression)
//   payload (compressed) := varint32 raw_bytes | compressed bytes
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "io/env.h"
#include "lsm/lsm_tree.h"

namespace rdb::lsm {

inline constexpr char kTableMagic[8] = {'R', 'D', 'B', 'T', 'A', 'B', 'L', 'E'};
constexpr uint32_t kTableFormatVersion = 1;
constexpr size_t kTableHeaderBytes = 16;
constexpr size_t kTableFooterBytes = 56;
constexpr size_t kBlockTrailerBytes = 5;
// No block (raw or compressed) may claim more than this: bounds what a corrupt handle can make us
// allocate.
constexpr uint64_t kBlockBytesMax = 96ull << 20;

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;  // payload bytes, without the trailer

  void EncodeTo(std::string* dst) const;
  bool DecodeFrom(std::string_view* in);
};

struct Footer {
  BlockHandle index;
  BlockHandle filter;  // size 0: the table has no filter
  uint64_t entry_count = 0;

  void EncodeTo(std::string* dst) const;
  // `name` names the file in errors. Bad magic / checksum is kCorruption, an unknown format
  // version kNotSupported.
  static Result<Footer> Decode(std::string_view bytes, const std::string& name);
};

void EncodeTableHeader(std::string* dst);
Status CheckTableHeader(std::string_view bytes, const std::string& name);

// Compresses (if it pays: at least 1/8 smaller) and appends payload + trailer to *dst. `scratch`
// is reused between calls.
void AppendBlock(std::string_view contents, Compression compression, std::string* scratch,
                 std::string* dst);

// Reads and verifies the block at handle, returning its uncompressed contents. A checksum mismatch,
// a short read or an undecodable payload is kCorruption naming `name` and the block offset.
Result<std::string> ReadBlock(const RandomAccessFile& file, const std::string& name,
                              uint64_t file_size, const BlockHandle& handle);

}  // namespace rdb::lsm
