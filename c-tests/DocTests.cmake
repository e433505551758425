# Doc tests: every C code block of README.md and every example in include/gort.h is
# compiled with the C tests' flags and run, plainly (doc-<name>), against the asan library
# with -fsanitize=address (asan-doc-<name>) and under valgrind (valgrind-doc-<name>).
# c-tests/doc_blocks.sh finds the blocks and says what makes a block testable; it compiles
# each one when its test runs, so a block that does not compile fails that test, and every
# failure names the block's file and line. doc-index fails when the blocks changed since
# CMake registered them (the build re-runs CMake: build again).
#
# Why valgrind too: ASan sees the C side's accesses and the malloc'd objects, but gort's Rust
# code is not instrumented, and goroutine stacks are gort's own mappings. The asan build
# checks each channel operation explicitly (Chan::check_live), but a C read of a finished
# goroutine's stack goes unseen. The README tour's old bug (workers reading the channel
# pointers from main's stack, then using a released channel, while the program exits) made
# valgrind-doc-readme-1 fail 5 runs of 5 and asan-doc-readme-1 only 6 of 10 (the stale use
# races the exit; when the ASan report does race LSan's exit-time leak check, the two
# deadlock and the test fails by its timeout). valgrind sees every access.
# Labels: doc, and asan or valgrind for those variants.
include_guard(GLOBAL)

set(GORT_DOC_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/doc_blocks.sh")
set(GORT_DOC_FILES "${PROJECT_SOURCE_DIR}/README.md" "${GORT_INCLUDE_DIR}/gort.h")
set(GORT_DOC_DIR "${CMAKE_CURRENT_BINARY_DIR}/doc-tests")
set(GORT_DOC_CONFIG "${GORT_DOC_DIR}/config.sh")
set(GORT_DOC_INDEX "${GORT_DOC_DIR}/index.txt")

# The compiler and flags for doc_blocks.sh run, as shell assignments.
string(JOIN " " _doc_cflags ${GORT_C_TEST_FLAGS} -pthread "-I${GORT_INCLUDE_DIR}")
string(JOIN " " _doc_cxxflags -std=c++17 ${GORT_CXX_TEST_FLAGS} -pthread "-I${GORT_INCLUDE_DIR}")
set(_doc_libs "${GORT_STATIC_LIB} ${GORT_PC_LIBS_PRIVATE}")
set(_doc_asan_libs "-fsanitize=address ${GORT_ASAN_LIB} ${GORT_PC_LIBS_PRIVATE}")
string(JOIN " " _doc_valgrind "${GORT_VALGRIND}" ${GORT_VALGRIND_FLAGS})
file(CONFIGURE OUTPUT "${GORT_DOC_CONFIG}" CONTENT [=[
DOC_CC='@CMAKE_C_COMPILER@'
DOC_CFLAGS='@_doc_cflags@'
DOC_CXX='@CMAKE_CXX_COMPILER@'
DOC_CXXFLAGS='@_doc_cxxflags@'
DOC_LIBS='@_doc_libs@'
DOC_ASAN_LIBS='@_doc_asan_libs@'
DOC_VALGRIND='@_doc_valgrind@'
]=] @ONLY)

set(_doc_index "")
foreach(_doc_file IN LISTS GORT_DOC_FILES)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_doc_file}")
  execute_process(COMMAND sh "${GORT_DOC_SCRIPT}" list "${_doc_file}"
                  OUTPUT_VARIABLE _doc_blocks RESULT_VARIABLE _doc_status)
  if(NOT _doc_status EQUAL 0)
    message(FATAL_ERROR "c-tests/doc_blocks.sh list ${_doc_file} failed (see above)")
  endif()
  string(STRIP "${_doc_blocks}" _doc_blocks)
  if(_doc_blocks STREQUAL "")
    continue()
  endif()
  string(REPLACE "\n" ";" _doc_blocks "${_doc_blocks}")
  foreach(_doc_block IN LISTS _doc_blocks)
    string(APPEND _doc_index "${_doc_file} ${_doc_block}\n")
    string(REGEX MATCH "^[^ ]+" _doc_name "${_doc_block}")
    set(_doc_run sh "${GORT_DOC_SCRIPT}" run "${GORT_DOC_CONFIG}" "${_doc_file}" "${_doc_name}")
    add_test(NAME doc-${_doc_name} COMMAND ${_doc_run} plain "${GORT_DOC_DIR}")
    set_tests_properties(doc-${_doc_name} PROPERTIES LABELS doc TIMEOUT 120)
    if(GORT_ASAN_TESTS)
      add_test(NAME asan-doc-${_doc_name} COMMAND ${_doc_run} asan "${GORT_DOC_DIR}")
      set_tests_properties(asan-doc-${_doc_name} PROPERTIES LABELS "doc;asan" TIMEOUT 120
        ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan.supp:print_suppressions=0")
    endif()
    if(GORT_VALGRIND)
      add_test(NAME valgrind-doc-${_doc_name} COMMAND ${_doc_run} valgrind "${GORT_DOC_DIR}")
      set_tests_properties(valgrind-doc-${_doc_name} PROPERTIES LABELS "doc;valgrind" TIMEOUT 300)
    endif()
  endforeach()
endforeach()
file(WRITE "${GORT_DOC_INDEX}" "${_doc_index}")
add_test(NAME doc-index
         COMMAND sh "${GORT_DOC_SCRIPT}" check-index "${GORT_DOC_INDEX}" ${GORT_DOC_FILES})
set_tests_properties(doc-index PROPERTIES LABELS doc TIMEOUT 60)
