// `rampart serve`: wires configuration, store, metrics, pipeline and server, then runs until a signal.
#pragma once

#include <filesystem>
#include <optional>

#include "app/config.hpp"

namespace rampart {

struct ServeOptions {
    std::optional<std::filesystem::path> portFile;  // written once listening (for tests and supervisors)
};

// Returns the process exit code: 0 after a graceful shutdown, 2 when production refuses to start.
int serve(Config config, const ServeOptions& options);

}  // namespace rampart
