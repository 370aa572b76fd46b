// libFuzzer target: the event log's record body decoder must reject any garbage with a Status —
// never crash, read out of bounds or allocate wildly — and anything it accepts must re-encode to
// bytes that decode to the same record.
#include <cstddef>
#include <cstdint>
#include <string>

#include "log/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  rdb::LogRecord rec;
  if (!rdb::DecodeRecordBody(in, &rec).ok()) return 0;
  std::string again;
  rdb::EncodeRecordBody(rec, &again);
  rdb::LogRecord rec2;
  RDB_CHECK(rdb::DecodeRecordBody(again, &rec2).ok());
  RDB_CHECK(rec2.first_seq == rec.first_seq && rec2.key == rec.key &&
            rec2.events.size() == rec.events.size());
  for (size_t i = 0; i < rec.events.size(); i++) {
    RDB_CHECK(rec2.events[i].payload == rec.events[i].payload);
  }
  return 0;
}
