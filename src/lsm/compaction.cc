#include "lsm/compaction.h"

#include <algorithm>

#include "lsm/merging_iterator.h"

namespace rdb::lsm {
namespace {

// A compaction output is cut early once it overlaps this many grandparent bytes, so that a later
// compaction of it into the next level stays bounded.
constexpr uint64_t kGrandparentOverlapFactor = 10;

// Writes a run of output tables, cutting a new one on request.
class TableOutput {
 public:
  TableOutput(const JobContext& ctx, int level, VersionEdit* edit, JobResult* result)
      : ctx_(ctx), level_(level), edit_(edit), result_(result) {}

  bool open() const { return builder_ != nullptr; }
  uint64_t file_bytes() const { return builder_ != nullptr ? builder_->FileSize() : 0; }

  Status Add(std::string_view ikey, std::string_view value) {
    if (builder_ == nullptr) RDB_RETURN_IF_ERROR(OpenFile());
    result_->entries_out++;
    return builder_->Add(ikey, value);
  }

  // Finishes, syncs and closes the current table.
  Status Close() {
    if (builder_ == nullptr) return Status::OK();
    RDB_RETURN_IF_ERROR(builder_->Finish());
    RDB_RETURN_IF_ERROR(file_->Sync());
    RDB_RETURN_IF_ERROR(file_->Close());
    FileMeta meta;
    meta.number = number_;
    meta.file_size = builder_->FileSize();
    meta.entries = builder_->entries();
    meta.smallest = builder_->smallest();
    meta.largest = builder_->largest();
    result_->bytes_written += meta.file_size;
    edit_->added.emplace_back(level_, std::move(meta));
    builder_.reset();
    file_.reset();
    return Status::OK();
  }

  // Makes the new files' directory entries durable before an edit refers to them.
  Status SyncDir() {
    if (result_->file_numbers.empty()) return Status::OK();
    return ctx_.env->SyncDir(ctx_.dir);
  }

 private:
  Status OpenFile() {
    number_ = ctx_.versions->NewFileNumber();
    result_->file_numbers.push_back(number_);
    RDB_ASSIGN_OR_RETURN(file_,
                         ctx_.env->NewWritableFile(JoinPath(ctx_.dir, TableFileName(number_))));
    builder_ = std::make_unique<TableBuilder>(ctx_.table_options, file_.get());
    return Status::OK();
  }

  const JobContext& ctx_;
  const int level_;
  VersionEdit* edit_;
  JobResult* result_;
  uint64_t number_ = 0;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<TableBuilder> builder_;
};

bool Stopping(const JobContext& ctx) {
  return ctx.stop != nullptr && ctx.stop->load(std::memory_order_relaxed);
}

// User-key range covered by a set of files.
void RangeOf(const std::vector<FileRef>& a, const std::vector<FileRef>& b, std::string* smallest,
             std::string* largest) {
  bool first = true;
  for (const auto* files : {&a, &b}) {
    for (const FileRef& f : *files) {
      if (first || CompareUserKey(f->smallest_user(), *smallest) < 0) {
        smallest->assign(f->smallest_user());
      }
      if (first || CompareUserKey(f->largest_user(), *largest) > 0) {
        largest->assign(f->largest_user());
      }
      first = false;
    }
  }
}

uint64_t TotalBytes(const std::vector<FileRef>& files) {
  uint64_t n = 0;
  for (const FileRef& f : files) n += f->file_size;
  return n;
}

}  // namespace

Status RunFlush(const JobContext& ctx, InternalIterator* it, VersionEdit* edit, JobResult* result) {
  TableOutput out(ctx, 0, edit, result);
  std::string last_user_key;
  bool has_last = false;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    result->entries_in++;
    std::string_view user_key = ExtractUserKey(it->key());
    if (has_last && user_key == last_user_key) continue;  // an older version of the same key
    last_user_key.assign(user_key);
    has_last = true;
    RDB_RETURN_IF_ERROR(out.Add(it->key(), it->value()));
  }
  RDB_RETURN_IF_ERROR(it->status());
  RDB_RETURN_IF_ERROR(out.Close());
  return out.SyncDir();
}

uint64_t LevelTargetBytes(const LsmOptions& options, int level) {
  uint64_t target = options.l1_bytes_max;
  for (int l = 1; l < level; l++) target *= 10;
  return target;
}

double CompactionScore(const Version& v, const LsmOptions& options, int* level) {
  double best = static_cast<double>(v.files[0].size()) / options.l0_compaction_trigger;
  *level = 0;
  for (int l = 1; l < kNumLevels - 1; l++) {
    double score = static_cast<double>(v.LevelBytes(l)) / LevelTargetBytes(options, l);
    if (score > best) {
      best = score;
      *level = l;
    }
  }
  return best;
}

std::optional<CompactionPlan> PickCompaction(const Version& v, const LsmOptions& options,
                                             CompactionCursors* cursors) {
  int level;
  if (CompactionScore(v, options, &level) < 1.0) return std::nullopt;
  CompactionPlan plan;
  plan.level = level;
  if (level == 0) {
    // All of L0: its tables usually overlap each other anyway, and taking them all keeps the
    // "newer L0 tables have higher numbers" rule trivially true.
    plan.inputs[0] = v.files[0];
  } else {
    // Round-robin through the level so every key range gets its turn.
    const auto& files = v.files[level];
    const std::string& cursor = (*cursors)[level];
    FileRef pick = files[0];
    for (const FileRef& f : files) {
      if (cursor.empty() || CompareUserKey(f->smallest_user(), cursor) > 0) {
        pick = f;
        break;
      }
    }
    if (!cursor.empty() && CompareUserKey(pick->smallest_user(), cursor) <= 0) pick = files[0];
    plan.inputs[0] = {pick};
    (*cursors)[level].assign(pick->largest_user());
  }
  std::string smallest, largest;
  RangeOf(plan.inputs[0], {}, &smallest, &largest);
  plan.inputs[1] = v.Overlapping(level + 1, smallest, largest);
  RangeOf(plan.inputs[0], plan.inputs[1], &smallest, &largest);
  if (level + 2 < kNumLevels) plan.grandparents = v.Overlapping(level + 2, smallest, largest);
  plan.trivial_move =
      plan.inputs[0].size() == 1 && plan.inputs[1].empty() &&
      (level > 0 || v.files[0].size() == 1) &&
      TotalBytes(plan.grandparents) <= kGrandparentOverlapFactor * options.table_file_bytes_max;
  return plan;
}

Status RunCompaction(const JobContext& ctx, const CompactionPlan& plan, const Version& base,
                     VersionEdit* edit, JobResult* result) {
  const int out_level = plan.level + 1;
  for (int i = 0; i < 2; i++) {
    for (const FileRef& f : plan.inputs[i]) edit->deleted.emplace_back(plan.level + i, f->number);
  }
  if (plan.trivial_move) {
    edit->added.emplace_back(out_level, *plan.inputs[0][0]);
    return Status::OK();
  }

  std::vector<std::unique_ptr<InternalIterator>> children;
  if (plan.level == 0) {
    for (const FileRef& f : plan.inputs[0]) {
      RDB_ASSIGN_OR_RETURN(auto table, ctx.table_cache->Get(f->number, f->file_size));
      children.push_back(table->NewIterator(false));
    }
  } else {
    children.push_back(NewLevelIterator(plan.inputs[0], ctx.table_cache, false));
  }
  if (!plan.inputs[1].empty()) {
    children.push_back(NewLevelIterator(plan.inputs[1], ctx.table_cache, false));
  }
  auto merged = NewMergingIterator(std::move(children));

  TableOutput out(ctx, out_level, edit, result);
  const uint64_t gp_limit = kGrandparentOverlapFactor * ctx.table_file_bytes_max;
  size_t gp_index = 0;
  uint64_t gp_overlap = 0;
  std::string last_user_key;
  bool has_last = false;
  for (merged->SeekToFirst(); merged->Valid(); merged->Next()) {
    if ((result->entries_in++ & 0xfff) == 0 && Stopping(ctx)) {
      return Status::Aborted("compaction interrupted by shutdown");
    }
    ParsedInternalKey k;
    if (!ParseInternalKey(merged->key(), &k)) {
      return Status::Corruption("compaction input holds a malformed internal key");
    }
    if (has_last && k.user_key == last_user_key) continue;  // shadowed by a newer entry
    last_user_key.assign(k.user_key);
    has_last = true;
    if (k.type == ValueType::kDeletion && !base.RangeCoversBelow(out_level, k.user_key)) {
      continue;  // nothing older below: the tombstone has done its job
    }
    while (gp_index < plan.grandparents.size() &&
           CompareUserKey(k.user_key, plan.grandparents[gp_index]->largest_user()) > 0) {
      gp_overlap += plan.grandparents[gp_index]->file_size;
      gp_index++;
    }
    if (out.open() && (out.file_bytes() >= ctx.table_file_bytes_max || gp_overlap > gp_limit)) {
      RDB_RETURN_IF_ERROR(out.Close());
      gp_overlap = 0;
    }
    RDB_RETURN_IF_ERROR(out.Add(merged->key(), merged->value()));
  }
  RDB_RETURN_IF_ERROR(merged->status());
  RDB_RETURN_IF_ERROR(out.Close());
  return out.SyncDir();
}

}  // namespace rdb::lsm
