#include "lsm/manifest.h"

#include <cstring>

#include "base/coding.h"
#include "base/crc32c.h"
#include "lsm/format.h"

namespace rdb::lsm {
namespace {

constexpr std::string_view kCurrentTag = "RDB-LSM-CURRENT";

uint32_t MaskedCrc(std::string_view s) { return crc32c::Mask(crc32c::Value(s)); }

bool AllZero(std::string_view s) {
  for (char c : s) {
    if (c != 0) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ManifestWriter>> ManifestWriter::Create(Env* env, const std::string& path) {
  RDB_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
  std::string header(kManifestMagic, sizeof(kManifestMagic));
  PutFixed32(&header, kManifestFormatVersion);
  PutFixed32(&header, MaskedCrc(header));
  RDB_RETURN_IF_ERROR(file->Append(header));
  return std::unique_ptr<ManifestWriter>(new ManifestWriter(std::move(file)));
}

Status ManifestWriter::AddRecord(std::string_view payload) {
  if (payload.size() > kManifestRecordBytesMax) {
    return Status::ResourceExhausted("manifest record of " + std::to_string(payload.size()) +
                                     " bytes exceeds the limit");
  }
  std::string rec;
  rec.reserve(kManifestRecordHeaderBytes + payload.size());
  PutFixed32(&rec, static_cast<uint32_t>(payload.size()));
  PutFixed32(&rec, MaskedCrc(std::string_view(rec.data(), 4)));
  PutFixed32(&rec, MaskedCrc(payload));
  rec.append(payload);
  // One append per record: a failed append leaves at most a torn tail, which readers ignore.
  return file_->Append(rec);
}

Result<ManifestReadResult> ReadManifest(
    Env* env, const std::string& path,
    const std::function<Status(std::string_view payload, uint64_t offset)>& fn) {
  std::string data;
  RDB_RETURN_IF_ERROR(ReadFileToString(env, path, &data));
  if (data.size() < kManifestHeaderBytes ||
      std::memcmp(data.data(), kManifestMagic, sizeof(kManifestMagic)) != 0) {
    return Status::Corruption(path + ": not a manifest (bad magic)");
  }
  if (crc32c::Unmask(DecodeFixed32(data.data() + 12)) != crc32c::Value(data.data(), 12)) {
    return Status::Corruption(path + ": header checksum mismatch");
  }
  uint32_t version = DecodeFixed32(data.data() + 8);
  if (version != kManifestFormatVersion) {
    return Status::NotSupported(path + ": manifest format version " + std::to_string(version) +
                                " is not supported (this build reads version " +
                                std::to_string(kManifestFormatVersion) + ")");
  }
  ManifestReadResult r;
  uint64_t off = kManifestHeaderBytes;
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption(path + ": record at offset " + std::to_string(off) + ": " + what);
  };
  while (off < data.size()) {
    std::string_view rest(data.data() + off, data.size() - off);
    if (rest.size() < kManifestRecordHeaderBytes || AllZero(rest)) {
      r.torn_tail = true;
      break;
    }
    uint32_t length = DecodeFixed32(rest.data());
    if (crc32c::Unmask(DecodeFixed32(rest.data() + 4)) != crc32c::Value(rest.data(), 4)) {
      return corrupt("length checksum mismatch");
    }
    if (length > kManifestRecordBytesMax) return corrupt("record too large");
    if (rest.size() - kManifestRecordHeaderBytes < length) {
      r.torn_tail = true;
      break;
    }
    std::string_view payload(rest.data() + kManifestRecordHeaderBytes, length);
    if (crc32c::Unmask(DecodeFixed32(rest.data() + 8)) != crc32c::Value(payload)) {
      return corrupt("payload checksum mismatch");
    }
    Status s = fn(payload, off);
    if (!s.ok()) {
      if (s.code() == Code::kCorruption) return corrupt(s.message());
      return s;
    }
    off += kManifestRecordHeaderBytes + length;
    r.records++;
    r.valid_bytes = off;
  }
  if (r.valid_bytes == 0) r.valid_bytes = kManifestHeaderBytes;
  return r;
}

Result<std::string> ReadCurrent(Env* env, const std::string& dir) {
  std::string path = JoinPath(dir, kCurrentFileName);
  if (!env->FileExists(path)) return Status::NotFound(path + " does not exist");
  std::string data;
  RDB_RETURN_IF_ERROR(ReadFileToString(env, path, &data));
  auto bad = [&]() { return Status::Corruption(path + ": malformed contents"); };
  size_t nl = data.find('\n');
  if (nl == std::string::npos) return bad();
  std::string_view first(data.data(), nl);
  if (first.substr(0, kCurrentTag.size()) != kCurrentTag || first.size() <= kCurrentTag.size() ||
      first[kCurrentTag.size()] != ' ') {
    return bad();
  }
  std::string_view ver = first.substr(kCurrentTag.size() + 1);
  if (ver != std::to_string(kCurrentFormatVersion)) {
    return Status::NotSupported(path + ": format version " + std::string(ver) +
                                " is not supported (this build reads version " +
                                std::to_string(kCurrentFormatVersion) + ")");
  }
  std::string_view rest(data.data() + nl + 1, data.size() - nl - 1);
  if (rest.empty() || rest.back() != '\n') return bad();
  std::string name(rest.substr(0, rest.size() - 1));
  uint64_t number;
  if (ParseFileName(name, &number) != FileType::kManifest) return bad();
  return name;
}

Status WriteCurrent(Env* env, const std::string& dir, const std::string& manifest_name) {
  std::string contents = std::string(kCurrentTag) + " " + std::to_string(kCurrentFormatVersion) +
                         "\n" + manifest_name + "\n";
  return WriteFileAtomic(env, JoinPath(dir, kCurrentFileName), contents);
}

}  // namespace rdb::lsm
