// Reads series out of a metrics registry for tests: a counter's value, a histogram's count and sum, how
// many series a family holds, without parsing the text format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <prometheus/registry.h>

#include "obs/metrics.hpp"

namespace rampart::testing {

struct HistogramValue {
    std::uint64_t count = 0;
    double sum = 0;
};

namespace detail {
// The series of `family` whose labels are exactly `labels`; nullopt when there is none.
inline std::optional<prometheus::ClientMetric> findSeries(obs::Metrics& metrics, std::string_view family,
                                                          const prometheus::Labels& labels) {
    for (const auto& collected : metrics.registry().Collect()) {
        if (collected.name != family) continue;
        for (const auto& series : collected.metric) {
            prometheus::Labels found;
            for (const auto& label : series.label) found.emplace(label.name, label.value);
            if (found == labels) return series;
        }
    }
    return std::nullopt;
}
}  // namespace detail

inline std::optional<double> counterValue(obs::Metrics& metrics, std::string_view family,
                                          const prometheus::Labels& labels) {
    auto series = detail::findSeries(metrics, family, labels);
    if (!series) return std::nullopt;
    return series->counter.value;
}

inline std::optional<HistogramValue> histogramValue(obs::Metrics& metrics, std::string_view family,
                                                    const prometheus::Labels& labels) {
    auto series = detail::findSeries(metrics, family, labels);
    if (!series) return std::nullopt;
    return HistogramValue{.count = series->histogram.sample_count, .sum = series->histogram.sample_sum};
}

inline std::size_t seriesCount(obs::Metrics& metrics, std::string_view family) {
    for (const auto& collected : metrics.registry().Collect())
        if (collected.name == family) return collected.metric.size();
    return 0;
}

}  // namespace rampart::testing
