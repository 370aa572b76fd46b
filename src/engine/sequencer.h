// LocalSequencer: issues seqs in single-node mode. Seqs start at 1, only increase, and never repeat
// across restarts, even under fsync=never where the log's tail can vanish in a crash after
// subscribers saw it: the sequencer persists a reservation (the SEQUENCER file, written atomically)
// before it issues any seq below it, and restarts above max(reservation, log's last seq).
// docs/formats/sequencer.md.
//
// Not thread-safe: used by the engine's commit leader only.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "io/env.h"

namespace rdb {

constexpr uint64_t kSeqMax = (1ull << 53) - 1;  // seqs fit a JSON number exactly

class LocalSequencer {
 public:
  static constexpr uint64_t kReserveBlock = 1ull << 20;

  // Reads (or creates) the reservation file at path. log_last_seq is the highest seq in the log.
  static Result<LocalSequencer> Open(Env* env, std::string path, uint64_t log_last_seq);

  // Takes count consecutive seqs and returns the first.
  Result<uint64_t> Next(uint64_t count);
  uint64_t last_issued() const { return next_ - 1; }
  // Makes sure seqs up to at least seq are never issued again (replicated appends).
  Status Advance(uint64_t seq);

 private:
  LocalSequencer(Env* env, std::string path, uint64_t next, uint64_t reserved)
      : env_(env), path_(std::move(path)), next_(next), reserved_(reserved) {}
  Status Reserve(uint64_t upto);

  Env* env_;
  std::string path_;
  uint64_t next_;      // next seq to issue
  uint64_t reserved_;  // seqs < reserved_ may be issued without touching the file
};

}  // namespace rdb
