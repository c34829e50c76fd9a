// TEMPORARY (not committed): a stand-in for the pg-fixture branch's server.
#pragma once
#include <atomic>
#include <cstdlib>
#include <string>
namespace rampart::testing {
inline std::string freshDatabaseUrl() {
    static std::atomic<int> n{0};
    std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
    std::string cmd =
        "psql -q -h 127.0.0.1 -p 55999 -U postgres -c 'CREATE DATABASE " + name + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("createdb");
    return "postgresql://postgres@127.0.0.1:55999/" + name;
}
}  // namespace rampart::testing
