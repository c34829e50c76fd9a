// The command line (placeholder until the server lands).
#include "app/cli.hpp"

#include <cstdio>

namespace rampart {

int runCli(int argc, char** argv) {
    std::puts("rampart " RAMPART_VERSION);
    return 0;
}

}  // namespace rampart
