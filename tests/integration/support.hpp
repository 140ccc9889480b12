// Kept for tests written against this path: the shared fixture and helpers
// are in tests/support/.
#pragma once

#include "../support/fixture.hpp"
