// `rampart serve`: wires configuration, store, metrics, pipeline and server, then runs until a signal.
#pragma once

#include <filesystem>
#include <optional>

#include "app/config.hpp"
#include "store/store.hpp"

namespace rampart {

struct ServeOptions {
    std::optional<std::filesystem::path> portFile;  // written once listening (for tests and supervisors)
};

// Production: true only when the schema is current (else says to run `rampart migrate` on stderr).
// Development: applies pending migrations and returns true.
bool schemaReady(store::Store& store, const Config& config);

// Returns the process exit code: 0 after a graceful shutdown, 2 when production refuses to start.
int serve(Config config, const ServeOptions& options);

}  // namespace rampart
