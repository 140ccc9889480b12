// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_FAKE_FILE_HPP
#define EVOLINK_TESTING_FAKE_FILE_HPP

/// A file held by the fake Files API (fake_server::files()). The Files API
/// itself is in fake_files.hpp; this header holds only the record, so that
/// fake_server.hpp need not include it.

#include <string>

namespace evolink::testing {

/// A file held by the fake Files API.
struct fake_file {
    std::string file_id, file_name, original_name, mime_type, upload_path;
    std::string bytes;
};

} // namespace evolink::testing

#endif
