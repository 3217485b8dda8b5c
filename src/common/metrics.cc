#include "common/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace sluice::metrics {
namespace {

void AtomicAdd(std::atomic<double>* a, double d) {
  double cur = a->load(std::memory_order_relaxed);
  while (!a->compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += fmt::format("{}=\"{}\"", k, EscapeLabelValue(v));
  }
  if (!extra_key.empty()) {
    if (!first) out += ",";
    out += fmt::format("{}=\"{}\"", extra_key, extra_value);
  }
  return out + "}";
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Gauge::Add(double d) { AtomicAdd(&v_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = acc;
  return s;
}

std::vector<double> Histogram::LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

Counter* Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "counter";
  f.help = help;
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "gauge";
  f.help = help;
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  auto& slot = f.histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return slot.get();
}

int Registry::AddCollector(std::function<void(std::vector<Sample>*)> collector) {
  std::lock_guard lock(mu_);
  int id = next_collector_++;
  collectors_[id] = std::move(collector);
  return id;
}

void Registry::RemoveCollector(int id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  // Collector samples are grouped into families alongside the registered metrics.
  std::vector<Sample> samples;
  for (const auto& [id, c] : collectors_) c(&samples);
  std::map<std::string, std::vector<const Sample*>> collected;
  for (const auto& s : samples) collected[s.name].push_back(&s);

  std::string out;
  auto header = [&](const std::string& name, const std::string& help, const std::string& type) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  for (const auto& [name, f] : families_) {
    header(name, f.help, f.type);
    for (const auto& [l, c] : f.counters) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(l), c->Value());
    }
    for (const auto& [l, g] : f.gauges) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(l), FormatValue(g->Value()));
    }
    for (const auto& [l, h] : f.histograms) {
      auto s = h->Snap();
      for (size_t i = 0; i < s.bounds.size(); ++i) {
        out += fmt::format("{}_bucket{} {}\n", name,
                           FormatLabels(l, "le", FormatValue(s.bounds[i])), s.cumulative[i]);
      }
      out += fmt::format("{}_bucket{} {}\n", name, FormatLabels(l, "le", "+Inf"), s.count);
      out += fmt::format("{}_sum{} {}\n", name, FormatLabels(l), FormatValue(s.sum));
      out += fmt::format("{}_count{} {}\n", name, FormatLabels(l), s.count);
    }
  }
  for (const auto& [name, list] : collected) {
    header(name, list.front()->help, list.front()->type);
    for (const Sample* s : list) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(s->labels), FormatValue(s->value));
    }
  }
  return out;
}

}  // namespace sluice::metrics
