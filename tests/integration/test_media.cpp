// The fake server's result files are real media.
#include "support.hpp"
