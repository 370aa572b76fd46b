// Invariant checks. They are for bugs, never for input: input is validated and rejected with a
// Status. RDB_CHECK stays on in release builds (the checks are cheap); RDB_DCHECK only in debug.
#pragma once

namespace rdb::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);
}  // namespace rdb::internal

#define RDB_CHECK(cond)                                                                        \
  do {                                                                                         \
    if (__builtin_expect(!(cond), 0)) ::rdb::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

#ifdef NDEBUG
#define RDB_DCHECK(cond) \
  do {                   \
  } while (0)
#else
#define RDB_DCHECK(cond) RDB_CHECK(cond)
#endif
