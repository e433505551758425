# Runs one C test binary and checks what its source file's magic comments expect.
#
#   cmake -DEXE=<binary> -DSRC=<test_x.c> [-DTIMEOUT=<s>] [-DWRAPPER="valgrind --flags"]
#         -P run_test.cmake
#
# The binary runs with the test's environment (ctest sets ENV lines through the ENVIRONMENT
# property). Its stdout and stderr are captured and echoed; the test fails, with a message
# saying why, when the exit status differs from EXPECT_EXIT (default 0) or when any
# EXPECT_STDERR regex (CMake regex syntax) does not match the whole of stderr.
cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/GortMagic.cmake")

foreach(var EXE SRC)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_test.cmake: -D${var}=... is required")
  endif()
endforeach()

gort_read_magic("${SRC}" T)

set(cmd "${EXE}")
if(DEFINED WRAPPER AND NOT WRAPPER STREQUAL "")
  separate_arguments(wrapper UNIX_COMMAND "${WRAPPER}")
  set(cmd ${wrapper} "${EXE}")
endif()
set(timeout_args "")
if(DEFINED TIMEOUT AND NOT TIMEOUT STREQUAL "")
  set(timeout_args TIMEOUT "${TIMEOUT}")
endif()

string(JOIN " " shown ${cmd})
message("run: ${shown}")
execute_process(
  COMMAND ${cmd}
  ${timeout_args}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)

# Echo what the program printed (ctest shows it with --output-on-failure or -V).
message("---- stdout ----\n${out}---- stderr ----\n${err}---- exit: ${status} ----")

set(failures "")
if(NOT status STREQUAL T_EXPECT_EXIT)
  if(status MATCHES "^-?[0-9]+$")
    string(APPEND failures "\n  exit status ${status}, expected ${T_EXPECT_EXIT}")
    if(status EQUAL 99 AND DEFINED wrapper)
      string(APPEND failures " (99: valgrind reported errors, see stderr)")
    endif()
  else()
    # Killed by a signal or by the timeout: CMake reports a sentence instead of a number.
    string(APPEND failures "\n  \"${status}\", expected exit status ${T_EXPECT_EXIT}")
  endif()
endif()
foreach(re IN LISTS T_EXPECT_STDERR)
  gort_magic_decode(re)
  if(NOT err MATCHES "${re}")
    string(APPEND failures "\n  stderr does not match EXPECT_STDERR: ${re}")
  endif()
endforeach()

if(NOT failures STREQUAL "")
  message(FATAL_ERROR "FAILED ${SRC}:${failures}")
endif()
message("PASSED")
