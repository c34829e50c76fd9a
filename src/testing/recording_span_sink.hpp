// A span sink that keeps what it is given, for tests of the code that makes spans.
#pragma once

#include <mutex>
#include <string_view>
#include <vector>

#include "obs/tracer.hpp"

namespace rampart::testing {

class RecordingSpanSink final : public obs::SpanSink {
  public:
    void accept(obs::SpanData&& span) noexcept override {
        std::lock_guard lock(mutex_);
        spans_.push_back(std::move(span));
    }

    [[nodiscard]] std::vector<obs::SpanData> spans() const {
        std::lock_guard lock(mutex_);
        return spans_;
    }

    // The attribute's value as text (numbers and booleans written out); empty when the span has none.
    [[nodiscard]] static std::string attribute(const obs::SpanData& span, std::string_view key) {
        for (const auto& attribute : span.attributes) {
            if (attribute.key != key) continue;
            if (const auto text = obs::textOf(attribute.value)) return std::string(*text);
            if (const auto* number = std::get_if<std::int64_t>(&attribute.value))
                return std::to_string(*number);
            if (const auto* flag = std::get_if<bool>(&attribute.value)) return *flag ? "true" : "false";
            return std::to_string(std::get<double>(attribute.value));
        }
        return {};
    }

  private:
    mutable std::mutex mutex_;
    std::vector<obs::SpanData> spans_;
};

}  // namespace rampart::testing
