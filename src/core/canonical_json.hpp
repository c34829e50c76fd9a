// Canonical JSON: one byte string per JSON value, for hashes that must not depend on who serialised it
// (the audit chain, idempotency fingerprints).
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace rampart {

// JSON with every object's keys sorted (by bytes), at any depth, and no whitespace.
std::string canonicalJson(const boost::json::value& value);

}  // namespace rampart
