#include "io/env.h"

namespace rdb {

Status ReadFileToString(Env* env, const std::string& path, std::string* out) {
  RDB_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(path));
  RDB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  out->resize(size);
  RDB_ASSIGN_OR_RETURN(std::string_view got, file->Read(0, size, out->data()));
  out->resize(got.size());
  return Status::OK();
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  {
    RDB_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(tmp));
    RDB_RETURN_IF_ERROR(file->Append(data));
    RDB_RETURN_IF_ERROR(file->Sync());
    RDB_RETURN_IF_ERROR(file->Close());
  }
  RDB_RETURN_IF_ERROR(env->RenameFile(tmp, path));
  return env->SyncDir(DirName(path));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

std::string DirName(std::string_view path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

}  // namespace rdb
