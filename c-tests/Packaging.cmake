# Packaging tests (label install, as the consumer test): what the libraries in build/lib/
# export and how they link.
#   lib-exports    libgort.a and libgort.so define only the C API (gort_*), the same set,
#                  every function of gort.h; the SONAME is libgort.so.MAJOR
#   whole-archive  libgort.a and another Rust static library (second_rust/) in one C
#                  program, both under --whole-archive; skipped without cargo
include_guard(GLOBAL)

if(NOT CMAKE_READELF)
  message(FATAL_ERROR "CMAKE_READELF is not set: binutils' readelf runs the lib-exports test")
endif()
add_test(NAME lib-exports
         COMMAND sh "${CMAKE_CURRENT_LIST_DIR}/lib_exports.sh" "${CMAKE_READELF}"
                 "${GORT_STATIC_LIB}" "${GORT_SHARED_LIB}" "${GORT_SONAME}"
                 "${GORT_INCLUDE_DIR}/gort.h" "${CMAKE_CURRENT_BINARY_DIR}/lib-exports")
set_tests_properties(lib-exports PROPERTIES LABELS install TIMEOUT 60)

separate_arguments(_gort_native_flags UNIX_COMMAND "${GORT_PC_LIBS_PRIVATE}")
add_test(NAME whole-archive
         COMMAND sh "${CMAKE_CURRENT_LIST_DIR}/second_rust/run_whole_archive.sh"
                 "${GORT_CARGO}" "${CMAKE_C_COMPILER}" "${GORT_INCLUDE_DIR}" "${GORT_STATIC_LIB}"
                 "${CMAKE_CURRENT_BINARY_DIR}/whole-archive" ${_gort_native_flags})
set_tests_properties(whole-archive PROPERTIES LABELS install SKIP_RETURN_CODE 77 TIMEOUT 300)
