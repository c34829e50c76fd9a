// Test servers run as child processes (postgres_server.hpp, redis_server.hpp): forked on one long-lived
// thread so that PR_SET_PDEATHSIG kills them with the test process, exec'd with a fixed environment, their
// output appended to a log file; plus the small helpers those servers share (free ports, log tails, tokens).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::testing {

// The Unix account a child runs as: switchUser false keeps the test process's own.
struct ChildAccount {
    bool switchUser = false;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups, looked up before fork
};

// Forks and execs `arguments` (an absolute program path first) with exactly `environment` ("NAME=value"),
// in `workingDirectory`, as `account`, stdin from /dev/null and stdout and stderr appended to `output`.
// The child gets SIGKILL when the test process dies (PR_SET_PDEATHSIG), whichever thread calls this.
pid_t spawnChild(const std::vector<std::string>& arguments, const std::vector<std::string>& environment,
                 const std::filesystem::path& workingDirectory, const std::filesystem::path& output,
                 const ChildAccount& account = {});

// True once `pid` has exited and been reaped; `wait` blocks until then.
bool reap(pid_t pid, bool wait, int* status = nullptr);
// "exit code 1", "killed by signal 9".
std::string describeExit(int status);

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t probeFreePort();
// The last 40 lines of `path` written after byte `offset`, indented, for error messages.
std::string logTail(const std::filesystem::path& path, std::uintmax_t offset);
std::uintmax_t fileSize(const std::filesystem::path& path);
std::vector<std::string> readLines(const std::filesystem::path& path);

// `length` random lower-case letters and digits: fine in a URL, a file name and an SQL identifier.
std::string randomToken(std::size_t length);
// Every byte but A-Z a-z 0-9 - . _ ~ as %XX.
std::string percentEncode(std::string_view text);

// std::runtime_error("what: strerror(errno)").
std::runtime_error systemError(const std::string& what);

}  // namespace rampart::testing
