#include "common/metrics.h"

#include <gtest/gtest.h>

namespace sluice::metrics {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  Registry r;
  r.GetCounter("sluice_requests_total", "Requests.", {{"op", "get"}})->Inc(3);
  r.GetGauge("sluice_bytes_used", "Bytes used.")->Set(42);
  auto* h = r.GetHistogram("sluice_latency_seconds", "Latency.", {}, {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  r.AddCollector([](std::vector<Sample>* out) {
    out->push_back({"sluice_pages", "gauge", "Pages held.", {{"tier", "mem\"x"}}, 7});
  });
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE sluice_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_requests_total{op=\"get\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_bytes_used 42\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_pages{tier=\"mem\\\"x\"} 7\n"), std::string::npos);
}

TEST(MetricsTest, SameNameAndLabelsIsSameMetric) {
  Registry r;
  Counter* a = r.GetCounter("c", "h", {{"k", "v"}});
  Counter* b = r.GetCounter("c", "h", {{"k", "v"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, r.GetCounter("c", "h", {{"k", "w"}}));
}

}  // namespace
}  // namespace sluice::metrics
