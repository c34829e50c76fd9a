// Binding optional values and reading nullable columns: the few lines every SQLite table's code needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/sqlite/connection.hpp"

namespace rampart::store::sqlite {

inline void bindOptional(Statement& statement, int index, const std::optional<std::int64_t>& value) {
    if (value) {
        statement.bindInt64(index, *value);
    } else {
        statement.bindNull(index);
    }
}

inline void bindOptional(Statement& statement, int index, const std::optional<std::string>& value) {
    if (value) {
        statement.bindText(index, *value);
    } else {
        statement.bindNull(index);
    }
}

inline std::optional<std::int64_t> optionalInt(const Statement& row, int index) {
    if (row.columnIsNull(index)) return std::nullopt;
    return row.columnInt64(index);
}

inline std::optional<std::string> optionalText(const Statement& row, int index) {
    if (row.columnIsNull(index)) return std::nullopt;
    return row.columnText(index);
}

// The current row of a statement, as the mappings both stores share read it (store/job_columns.hpp,
// store/schedule_columns.hpp). SQLite keeps booleans as 0 and 1.
class Columns {
  public:
    explicit Columns(const Statement& row) : row_(row) {}
    [[nodiscard]] std::string text(int index) const { return row_.columnText(index); }
    [[nodiscard]] std::int64_t int64(int index) const { return row_.columnInt64(index); }
    [[nodiscard]] std::optional<std::string> optionalText(int index) const {
        return sqlite::optionalText(row_, index);
    }
    [[nodiscard]] std::optional<std::int64_t> optionalInt64(int index) const {
        return optionalInt(row_, index);
    }
    [[nodiscard]] bool flag(int index) const { return row_.columnInt64(index) != 0; }

  private:
    const Statement& row_;
};

}  // namespace rampart::store::sqlite
