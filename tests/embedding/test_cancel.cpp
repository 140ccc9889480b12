// Issue 9 (safe to embed): see the file's test cases.
#include "../integration/support.hpp"
