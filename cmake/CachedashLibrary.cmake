# SPDX-License-Identifier: GPL-3.0-or-later
# cachedash_library(TARGET): gives the library's public headers to whoever links it, as
# "<folder>/<header>" (#include "redis/redisclient.h"), and nothing else.
#
# Each library gets an include root of its own under the build directory, holding links to its
# public headers: every .h among its sources except the private *_p.h ones. A library's own files
# include their neighbours by plain name; anything of another layer is reachable only through a
# library it links. So an include across layers names its folder, and one that goes against the
# arrows (the HTTP transport including the Redis client, say) does not compile.
function(cachedash_library target)
    get_target_property(sources ${target} SOURCES)
    get_filename_component(folder "${CMAKE_CURRENT_SOURCE_DIR}" NAME)
    set(root "${CMAKE_BINARY_DIR}/include/${target}")
    file(REMOVE_RECURSE "${root}")
    file(MAKE_DIRECTORY "${root}/${folder}")
    foreach(source IN LISTS sources)
        if(source MATCHES "\\.h$" AND NOT source MATCHES "_p\\.h$" AND NOT IS_ABSOLUTE "${source}")
            file(CREATE_LINK "${CMAKE_CURRENT_SOURCE_DIR}/${source}" "${root}/${folder}/${source}" SYMBOLIC)
        endif()
    endforeach()
    target_include_directories(${target} PUBLIC "${root}")
endfunction()
