// evolink-cpp: header-only C++20 client for the EvoLink media-generation API.
// Distributed under the Boost Software License, Version 1.0.
//
// One include for the client. The fake server and the rest of the test kit
// are in <evolink/testing.hpp>. See docs/getting-started.md.
#ifndef EVOLINK_HPP
#define EVOLINK_HPP

#include <evolink/account.hpp>
#include <evolink/callback_receiver.hpp>
#include <evolink/client.hpp>
#include <evolink/error.hpp>
#include <evolink/files.hpp>
#include <evolink/images.hpp>
#include <evolink/journal.hpp>
#include <evolink/options.hpp>
#include <evolink/requests.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#endif
