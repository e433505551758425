# ctest `consumer`: checks that an installed gort can be used from outside.
#   1. cmake --install <build> --prefix <work>/prefix; the files and links are there
#   2. configure and build this directory's project against it (find_package(gort) CONFIG)
#   3. run consumer_static, consumer_shared (libgort.so.N found through the RPATH) and
#      consumer_cpp (gort.hpp, installed beside gort.h)
#   4. pkg-config, the commands README.md gives, each binary run without LD_LIBRARY_PATH:
#      a. gort.pc: `cc main.c $(pkg-config --cflags --libs gort)
#         -Wl,-rpath,$(pkg-config --variable=libdir gort)`: needs libgort.so.N, from libdir
#      b. gort-static.pc: `cc main.c $(pkg-config --cflags --libs gort-static)`: no
#         NEEDED libgort at all, though libgort.so sits beside libgort.a
#      c. `pkg-config --static gort` against a libdir holding only libgort.a: Libs.private
#         lists everything libgort.a needs
#   Every binary prints gort_version(), which must be the version the packages declare.
#
#   cmake -DGORT_BUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DLIBDIR=lib -DGENERATOR=...
#         -DCC=... -DPKG_CONFIG=... -P run_consumer.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var GORT_BUILD_DIR SOURCE_DIR WORK_DIR LIBDIR GENERATOR CC)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
find_program(READELF readelf REQUIRED)

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
set(libdir "${prefix}/${LIBDIR}")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# step(<description> COMMAND ...): runs a command, echoing it, and stops on failure.
function(step what)
  string(JOIN " " shown ${ARGN})
  message("==> ${what}\n    ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "FAILED: ${what}: ${status}")
  endif()
endfunction()

# run_ok(<name> <binary> static|shared): runs the binary (no LD_LIBRARY_PATH), which must exit
# 0 and print OK with the installed version; checks what it needs (readelf -d) and, for a
# shared one, that the loader maps libgort.so.N from the prefix.
function(run_ok name exe mode)
  message("==> run ${name}: ${exe}")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${exe}"
                  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  string(REPLACE "." "\\." want_version "${version}")
  if(NOT status EQUAL 0 OR NOT out MATCHES "^OK \\(gort ${want_version},")
    message(FATAL_ERROR "FAILED: ${name} exited with ${status} and did not print OK (gort ${version}, ...)")
  endif()
  execute_process(COMMAND "${READELF}" -d "${exe}" OUTPUT_VARIABLE dynamic RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "FAILED: readelf -d ${exe}")
  endif()
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*" needed "${dynamic}")
  if(mode STREQUAL "static")
    if(needed MATCHES "libgort")
      message(FATAL_ERROR "FAILED: ${name} should link libgort.a statically, but needs:\n${needed}")
    endif()
  else()
    string(REPLACE "." "\\." want "\\[${soname}\\]")
    if(NOT needed MATCHES "${want}")
      message(FATAL_ERROR "FAILED: ${name} should need ${soname}, but needs:\n${needed}")
    endif()
    # What the loader maps, as ldd prints it (glibc's LD_TRACE_LOADED_OBJECTS); the path may
    # be spelt differently (the .pc files' libdir is ${pcfiledir}/../../lib).
    execute_process(COMMAND "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH LD_TRACE_LOADED_OBJECTS=1 "${exe}"
                    OUTPUT_VARIABLE deps ERROR_VARIABLE deps)
    string(REPLACE "." "\\." want "${soname} => ")
    set(loaded "")
    if(deps MATCHES "${want}([^ \t\n]+)")
      file(REAL_PATH "${CMAKE_MATCH_1}" loaded)
    endif()
    file(REAL_PATH "${libdir}/${soname}" installed)
    if(NOT loaded STREQUAL installed)
      message(FATAL_ERROR "FAILED: ${name} should load ${libdir}/${soname}, but maps:\n${deps}")
    endif()
  endif()
  message("    ${name}: OK (${mode})")
endfunction()

# 1. install
step("install gort into ${prefix}"
     "${CMAKE_COMMAND}" --install "${GORT_BUILD_DIR}" --prefix "${prefix}")
foreach(f "${libdir}/libgort.a" "${prefix}/include/gort.h"
          "${libdir}/cmake/gort/gort-config.cmake" "${libdir}/cmake/gort/gort-config-version.cmake"
          "${libdir}/pkgconfig/gort.pc" "${libdir}/pkgconfig/gort-static.pc")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "FAILED: install did not create ${f}")
  endif()
endforeach()
# The shared library: libgort.so -> libgort.so.MAJOR -> libgort.so.MAJOR.MINOR.PATCH, the
# version being the one the CMake package declares.
file(STRINGS "${libdir}/cmake/gort/gort-config-version.cmake" version REGEX "set\\(PACKAGE_VERSION ")
if(NOT version MATCHES "\"(([0-9]+)\\.[0-9]+\\.[0-9]+)\"")
  message(FATAL_ERROR "FAILED: no PACKAGE_VERSION in gort-config-version.cmake")
endif()
set(version "${CMAKE_MATCH_1}")
set(soname "libgort.so.${CMAKE_MATCH_2}")
function(check_symlink link target)
  if(NOT IS_SYMLINK "${libdir}/${link}")
    message(FATAL_ERROR "FAILED: ${libdir}/${link} should be a symlink to ${target}")
  endif()
  file(READ_SYMLINK "${libdir}/${link}" got)
  if(NOT got STREQUAL target)
    message(FATAL_ERROR "FAILED: ${libdir}/${link} points to ${got}, not to ${target}")
  endif()
endfunction()
check_symlink(libgort.so "${soname}")
check_symlink("${soname}" "libgort.so.${version}")
if(IS_SYMLINK "${libdir}/libgort.so.${version}" OR NOT EXISTS "${libdir}/libgort.so.${version}")
  message(FATAL_ERROR "FAILED: ${libdir}/libgort.so.${version} should be the library itself")
endif()

# 2. find_package(gort) from a separate project
step("configure the consumer project"
     "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
     "-DCMAKE_C_COMPILER=${CC}" -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_PREFIX_PATH=${prefix}"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
file(STRINGS "${build}/CMakeCache.txt" gort_dir REGEX "^gort_DIR:")
string(REGEX REPLACE "^[^=]*=" "" gort_dir "${gort_dir}")
if(NOT gort_dir STREQUAL "${libdir}/cmake/gort")
  message(FATAL_ERROR "FAILED: find_package(gort) found ${gort_dir}, not the fresh install")
endif()
step("build the consumer project" "${CMAKE_COMMAND}" --build "${build}")

# 3. run them (the shared one must find libgort.so.N through the RPATH CMake gave it)
run_ok(consumer_static "${build}/consumer_static" static)
run_ok(consumer_shared "${build}/consumer_shared" shared)
run_ok(consumer_cpp "${build}/consumer_cpp" static)

# 4. pkg-config
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "FAILED: pkg-config not found (install pkg-config)")
endif()
set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
unset(ENV{PKG_CONFIG_LIBDIR})

# pkg_config(<out-var> <args>...): pkg-config's answer, split into arguments.
function(pkg_config out)
  set(cmd "${PKG_CONFIG}" ${ARGN})
  string(JOIN " " shown ${cmd})
  execute_process(COMMAND ${cmd} RESULT_VARIABLE status OUTPUT_VARIABLE answer
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "FAILED: ${shown} (PKG_CONFIG_PATH=${libdir}/pkgconfig)")
  endif()
  message("    ${shown}: ${answer}")
  separate_arguments(answer UNIX_COMMAND "${answer}")
  set(${out} "${answer}" PARENT_SCOPE)
endfunction()

# pc_build(<name> <pkg-config args> [EXTRA <compiler args>...]): cc main.c $(pkg-config ...)
function(pc_build name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "EXTRA")
  pkg_config(flags ${arg_UNPARSED_ARGUMENTS} --cflags --libs)
  step("compile ${name} with pkg-config's flags"
       "${CC}" -std=c11 -Wall -Wextra -Werror "${SOURCE_DIR}/main.c" -o "${WORK_DIR}/${name}"
       ${flags} ${arg_EXTRA})
endfunction()

foreach(pc gort gort-static)
  pkg_config(pc_version --modversion ${pc})
  if(NOT pc_version STREQUAL version)
    message(FATAL_ERROR "FAILED: ${pc}.pc says version ${pc_version}, the CMake package ${version}")
  endif()
endforeach()

# 4a. the shared library, found at run time through the rpath the command line asks for
pkg_config(pc_libdir --variable=libdir gort)
pc_build(consumer_pkgconfig_shared gort EXTRA "-Wl,-rpath,${pc_libdir}")
run_ok(consumer_pkgconfig_shared "${WORK_DIR}/consumer_pkgconfig_shared" shared)

# 4b. the static library, though libgort.so is in the same directory
pc_build(consumer_pkgconfig_static gort-static)
run_ok(consumer_pkgconfig_static "${WORK_DIR}/consumer_pkgconfig_static" static)

# 4c. a libdir holding only libgort.a: `pkg-config --static gort` must link it with just
#     the flags in Libs.private.
file(MAKE_DIRECTORY "${WORK_DIR}/static-only")
file(COPY "${libdir}/libgort.a" DESTINATION "${WORK_DIR}/static-only")
pc_build(consumer_pkgconfig_static_only --static gort "--define-variable=libdir=${WORK_DIR}/static-only")
run_ok(consumer_pkgconfig_static_only "${WORK_DIR}/consumer_pkgconfig_static_only" static)

message("PASSED: installed gort ${version} works through find_package (static, shared) and "
        "pkg-config (gort, gort-static)")
