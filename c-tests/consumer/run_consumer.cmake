# ctest `consumer`: checks that an installed gort can be used from outside.
#   1. cmake --install <build> --prefix <work>/prefix
#   2. configure and build this directory's project against it (find_package(gort) CONFIG)
#   3. run consumer_static and consumer_shared (libgort.so.N found through the RPATH)
#   4. build main.c with `cc $(pkg-config --cflags --libs --static gort)` and run it; then
#      again against a directory holding only libgort.a, to prove Libs.private is complete.
#
#   cmake -DGORT_BUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DLIBDIR=lib -DGENERATOR=...
#         -DCC=... -DPKG_CONFIG=... -P run_consumer.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var GORT_BUILD_DIR SOURCE_DIR WORK_DIR LIBDIR GENERATOR CC)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

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

# run_ok(<name> <binary> <forbidden-or-required libgort.so regex> ...): runs the binary, which
# must exit 0 and print OK; checks how the dynamic loader resolves libgort.so.
function(run_ok name exe mode)
  message("==> run ${name}: ${exe}")
  execute_process(COMMAND "${exe}" RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT status EQUAL 0 OR NOT out MATCHES "^OK")
    message(FATAL_ERROR "FAILED: ${name} exited with ${status} and did not print OK")
  endif()
  # What the loader maps, as ldd prints it (glibc's LD_TRACE_LOADED_OBJECTS).
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env LD_TRACE_LOADED_OBJECTS=1 "${exe}"
                  RESULT_VARIABLE status OUTPUT_VARIABLE deps ERROR_VARIABLE deps)
  if(mode STREQUAL "static")
    if(deps MATCHES "libgort\\.so")
      message(FATAL_ERROR "FAILED: ${name} should link libgort.a statically, but needs:\n${deps}")
    endif()
  else()
    string(REGEX REPLACE "([][+.*?()^$|\\])" "\\\\\\1" want "${soname} => ${libdir}/${soname}")
    if(NOT deps MATCHES "${want}")
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
          "${libdir}/pkgconfig/gort.pc")
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

# 3. run them (no LD_LIBRARY_PATH: the shared one must find libgort.so through its RPATH)
unset(ENV{LD_LIBRARY_PATH})
run_ok(consumer_static "${build}/consumer_static" static)
run_ok(consumer_shared "${build}/consumer_shared" shared)

# 4. pkg-config
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "FAILED: pkg-config not found (install pkg-config)")
endif()
set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
unset(ENV{PKG_CONFIG_LIBDIR})
function(pc_build name)  # pc_build(<name> <extra pkg-config args>...)
  set(pc_cmd "${PKG_CONFIG}" ${ARGN} --cflags --libs --static gort)
  string(JOIN " " shown ${pc_cmd})
  message("==> ${shown}")
  execute_process(COMMAND ${pc_cmd} RESULT_VARIABLE status OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "FAILED: pkg-config cannot find gort in ${libdir}/pkgconfig")
  endif()
  message("    ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  step("compile ${name} with pkg-config's flags"
       "${CC}" -std=c11 -Wall -Wextra -Werror "${SOURCE_DIR}/main.c" -o "${WORK_DIR}/${name}" ${flags})
endfunction()

# 4a. as documented: cc main.c $(pkg-config --cflags --libs --static gort). With both
#     libgort.a and libgort.so in libdir the linker picks libgort.so.
pc_build(consumer_pkgconfig)
set(ENV{LD_LIBRARY_PATH} "${libdir}")
run_ok(consumer_pkgconfig "${WORK_DIR}/consumer_pkgconfig" shared)
unset(ENV{LD_LIBRARY_PATH})

# 4b. a libdir holding only libgort.a: a fully static libgort link must succeed with just
#     the flags in Libs.private.
file(MAKE_DIRECTORY "${WORK_DIR}/static-only")
file(COPY "${libdir}/libgort.a" DESTINATION "${WORK_DIR}/static-only")
pc_build(consumer_pkgconfig_static "--define-variable=libdir=${WORK_DIR}/static-only")
run_ok(consumer_pkgconfig_static "${WORK_DIR}/consumer_pkgconfig_static" static)

message("PASSED: installed gort works through find_package (static, shared) and pkg-config")
