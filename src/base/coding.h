// Little-endian fixed-width integers and LEB128 varints: the building blocks of every on-disk
// format. Encoders append to a std::string; decoders consume from the front of a std::string_view
// and return false (leaving the input unspecified) when the bytes run out or a varint is malformed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rdb {

constexpr int kMaxVarint32Bytes = 5;
constexpr int kMaxVarint64Bytes = 10;

inline void EncodeFixed32(char* dst, uint32_t v) { std::memcpy(dst, &v, 4); }  // host is LE
inline void EncodeFixed64(char* dst, uint64_t v) { std::memcpy(dst, &v, 8); }
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "formats assume a little-endian host");

// Big-endian 64-bit, used inside index keys so that byte order equals numeric order.
inline void EncodeBigEndian64(char* dst, uint64_t v) {
  uint64_t be = __builtin_bswap64(v);
  std::memcpy(dst, &be, 8);
}
inline uint64_t DecodeBigEndian64(const char* p) {
  uint64_t be;
  std::memcpy(&be, p, 8);
  return __builtin_bswap64(be);
}

void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutBigEndian64(std::string* dst, uint64_t v);
void PutVarint32(std::string* dst, uint32_t v);
void PutVarint64(std::string* dst, uint64_t v);
// Varint64 length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view bytes);

// Writes a varint to dst (which must have kMaxVarint64Bytes) and returns the byte past its end.
char* EncodeVarint64(char* dst, uint64_t v);
int VarintLength(uint64_t v);

bool GetFixed32(std::string_view* in, uint32_t* v);
bool GetFixed64(std::string_view* in, uint64_t* v);
bool GetBigEndian64(std::string_view* in, uint64_t* v);
bool GetVarint32(std::string_view* in, uint32_t* v);
bool GetVarint64(std::string_view* in, uint64_t* v);
// Reads a length-prefixed byte string; the result views into *in's buffer.
bool GetLengthPrefixed(std::string_view* in, std::string_view* out);

}  // namespace rdb
