// Catch2's main, compiled once for every test executable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

int main(int argc, char* argv[])
{
    // The tests talk to servers on loopback: a proxy of the machine's
    // environment must not take their connections (tests/integration/
    // test_proxy.cpp sets these variables itself where it tests them).
    for (const char* name : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"})
        ::unsetenv(name);
    return Catch::Session().run(argc, argv);
}
