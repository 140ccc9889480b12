# evolink-hiredis.cmake: finds hiredis for evolink::redis and
# evolink::redis_compiled (docs/scale-out.md). Used by CMakeLists.txt and,
# installed beside it, by evolink-config.cmake, so that the build and the
# installed package find hiredis the same way.
#
# Defines the imported target hiredis::hiredis (the name hiredis's own CMake
# package exports, from hiredis 1.0) unless it exists, and sets
# EVOLINK_HIREDIS_FOUND. Tried in order: an existing hiredis::hiredis;
# hiredis's CMake package (1.0+); pkg-config (Debian bookworm's hiredis 0.14
# ships only hiredis.pc); find_path + find_library.
# EVOLINK_HIREDIS_GLOBAL: make the target global (add_subdirectory() builds,
# whose consumers link evolink::redis from another directory).

set(EVOLINK_HIREDIS_FOUND FALSE)
if(EVOLINK_HIREDIS_GLOBAL)
  set(_evolink_hiredis_scope GLOBAL)
else()
  set(_evolink_hiredis_scope)
endif()

if(NOT TARGET hiredis::hiredis)
  find_package(hiredis CONFIG QUIET)
endif()

if(NOT TARGET hiredis::hiredis)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(EVOLINK_HIREDIS_PC QUIET IMPORTED_TARGET ${_evolink_hiredis_scope} hiredis)
    if(EVOLINK_HIREDIS_PC_FOUND)
      add_library(hiredis::hiredis INTERFACE IMPORTED ${_evolink_hiredis_scope})
      set_target_properties(hiredis::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::EVOLINK_HIREDIS_PC)
    endif()
  endif()
endif()

if(NOT TARGET hiredis::hiredis)
  find_path(EVOLINK_HIREDIS_INCLUDE_DIR hiredis/hiredis.h)
  find_library(EVOLINK_HIREDIS_LIBRARY hiredis)
  if(EVOLINK_HIREDIS_INCLUDE_DIR AND EVOLINK_HIREDIS_LIBRARY)
    add_library(hiredis::hiredis UNKNOWN IMPORTED ${_evolink_hiredis_scope})
    set_target_properties(hiredis::hiredis PROPERTIES
      IMPORTED_LOCATION "${EVOLINK_HIREDIS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${EVOLINK_HIREDIS_INCLUDE_DIR}")
  endif()
endif()

if(TARGET hiredis::hiredis)
  set(EVOLINK_HIREDIS_FOUND TRUE)
endif()
unset(_evolink_hiredis_scope)
