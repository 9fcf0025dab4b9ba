# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the build into a temporary DESTDIR and checks that every file a user needs is there.
# Run by CTest: cmake -DBUILD_DIR=... -DDEST=... -P check_install.cmake
file(REMOVE_RECURSE "${DEST}")
execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "DESTDIR=${DEST}" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix /usr
    RESULT_VARIABLE result OUTPUT_QUIET)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "cmake --install failed: ${result}")
endif()
set(expected
    usr/bin/cachedash
    usr/share/applications/cachedash.desktop
    usr/share/icons/hicolor/scalable/apps/cachedash.svg
    usr/share/man/man1/cachedash.1
    usr/share/doc/cachedash/cachedash.service
    usr/share/doc/cachedash/README.md
    usr/share/doc/cachedash/docs/configuration.md
    usr/share/doc/cachedash/docs/screenshot.png
    usr/share/doc/cachedash/LICENSE)
foreach(file IN LISTS expected)
    if(NOT EXISTS "${DEST}/${file}")
        message(FATAL_ERROR "missing after install: /${file}")
    endif()
endforeach()
file(GLOB_RECURSE installed RELATIVE "${DEST}" "${DEST}/*")
list(LENGTH installed count)
message(STATUS "installed ${count} files, the expected ones among them")
foreach(file IN LISTS installed)
    message(STATUS "  /${file}")
endforeach()
file(REMOVE_RECURSE "${DEST}")
