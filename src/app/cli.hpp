// The command line: `rampart serve|migrate|check ...`, parsed with CLI11.
#pragma once

namespace rampart {

int runCli(int argc, char** argv);

}  // namespace rampart
