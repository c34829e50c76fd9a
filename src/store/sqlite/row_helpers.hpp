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

}  // namespace rampart::store::sqlite
