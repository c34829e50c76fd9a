// A database row written as text, for testing the row mappings both stores share (store/job_columns.hpp,
// schedule_columns.hpp, identity_columns.hpp, audit_log.hpp) without a database: the same reads by
// column index as sqlite::Columns and pg::Row. A null is nullopt; numbers are decimal; a flag is "1".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rampart::testing {

struct TextRow {
    std::vector<std::optional<std::string>> cells;

    [[nodiscard]] std::string text(int column) const { return *cells.at(column); }
    [[nodiscard]] std::int64_t int64(int column) const { return std::stoll(*cells.at(column)); }
    [[nodiscard]] std::optional<std::string> optionalText(int column) const { return cells.at(column); }
    [[nodiscard]] std::optional<std::int64_t> optionalInt64(int column) const {
        const auto& cell = cells.at(column);
        return cell ? std::optional<std::int64_t>(std::stoll(*cell)) : std::nullopt;
    }
    [[nodiscard]] bool flag(int column) const { return *cells.at(column) == "1"; }
};

}  // namespace rampart::testing
