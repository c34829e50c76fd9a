// rampart: the one binary (serve, worker, migrate, check, admin).
#include "app/cli.hpp"

int main(int argc, char** argv) {
    return rampart::runCli(argc, argv);
}
