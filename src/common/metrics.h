// A metrics registry that renders the Prometheus text exposition format (0.0.4).
//
// Counters, gauges and histograms are created once (by name and labels) and then
// updated lock-free from any thread. Components that keep their own Stats register a
// collector: a callback run at render time that emits samples. The registry owns its
// metrics; pointers it returns stay valid for the registry's lifetime.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram with fixed upper bounds (seconds for latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;
  static std::vector<double> LatencyBounds();  // 100us .. 10s

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// One sample emitted by a collector.
struct Sample {
  std::string name;
  std::string type;  // "counter" or "gauge"
  std::string help;
  Labels labels;
  double value = 0;
};

class Registry {
 public:
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {},
                          std::vector<double> bounds = Histogram::LatencyBounds());
  // Registers a callback run on every Render(); returns an id for RemoveCollector.
  int AddCollector(std::function<void(std::vector<Sample>*)> collector);
  void RemoveCollector(int id);

  // The whole registry in Prometheus text format, families sorted by name.
  std::string Render() const;

 private:
  struct Family {
    std::string type, help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<int, std::function<void(std::vector<Sample>*)>> collectors_;
  int next_collector_ = 1;
};

// Escapes a label value per the exposition format.
std::string EscapeLabelValue(const std::string& v);

}  // namespace sluice::metrics
