// The file journal read back after crashes (no sockets).
#include <evolink.hpp>
#include <catch2/catch.hpp>
