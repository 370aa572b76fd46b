#include "server/metrics.h"

#include <gtest/gtest.h>

namespace rdb::server {
namespace {

TEST(Metrics, RendersCountersAndHistograms) {
  Metrics m([] { return std::vector<Sample>{{"rdb_log_syncs_total", "fsyncs", true, 7}}; });
  m.Observe(Method::kAppend, 0, 300);        // 0.3 ms
  m.Observe(Method::kAppend, 0, 2'000'000);  // 2 s
  m.Observe(Method::kGet, 5, 10);            // NOT_FOUND
  EXPECT_EQ(m.count(Method::kAppend, 0), 2u);
  std::string text = m.Render();
  EXPECT_NE(text.find("rdb_requests_total{method=\"Append\",code=\"OK\"} 2"), std::string::npos);
  EXPECT_NE(text.find("rdb_requests_total{method=\"Get\",code=\"NOT_FOUND\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("rdb_request_duration_seconds_bucket{method=\"Append\",code=\"OK\","
                      "le=\"0.0005\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rdb_request_duration_seconds_bucket{method=\"Append\",code=\"OK\","
                      "le=\"+Inf\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("rdb_request_duration_seconds_count{method=\"Append\",code=\"OK\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE rdb_log_syncs_total counter\nrdb_log_syncs_total 7"),
            std::string::npos);
}

TEST(Metrics, BucketsAreCumulative) {
  Metrics m;
  for (int i = 0; i < 10; i++) m.Observe(Method::kStatus, 0, 40);  // all below the first bound
  std::string text = m.Render();
  EXPECT_NE(text.find("method=\"Status\",code=\"OK\",le=\"30\"} 10"), std::string::npos) << text;
}

}  // namespace
}  // namespace rdb::server
