// CRC-32C (Castagnoli), the checksum of every log record, SSTable block and manifest record.
// Uses the SSE4.2 crc32 instruction when the CPU has it, else a table. Stored checksums are masked
// (as LevelDB does) so that a checksum over bytes that themselves contain checksums stays strong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rdb::crc32c {

// Extends crc (the CRC of some prefix) with data[0, n).
uint32_t Extend(uint32_t crc, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace rdb::crc32c
