# header-cxx: include/gort.h must compile warning-free as C++17 and as pedantic C11, and
# include/gort.hpp as C++17 and C++20.
#   cmake -DCXX=<c++> -DCC=<cc> -DINCLUDE_DIR=<include/> -DDIR=<dir with header_check.{c,cpp}>
#         -P header_check.cmake
cmake_minimum_required(VERSION 3.25)

set(cxx_cmd "${CXX}" -std=c++17 -Wall -Wextra -Wpedantic -Wold-style-cast -Werror -fsyntax-only
            "-I${INCLUDE_DIR}" "${DIR}/header_check.cpp")
# gort.hpp: as strict as a C++ user's build is likely to be.
set(hpp17_cmd "${CXX}" -std=c++17 -Wall -Wextra -Wpedantic -Wold-style-cast -Wshadow -Wconversion -Werror
              -fsyntax-only "-I${INCLUDE_DIR}" "${DIR}/header_check_hpp.cpp")
set(hpp20_cmd "${CXX}" -std=c++20 -Wall -Wextra -Wpedantic -Wold-style-cast -Wshadow -Wconversion -Werror
              -fsyntax-only "-I${INCLUDE_DIR}" "${DIR}/header_check_hpp.cpp")
set(c_cmd "${CC}" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only
          "-I${INCLUDE_DIR}" "${DIR}/header_check.c")

set(failed FALSE)
foreach(lang cxx c hpp17 hpp20)
  string(JOIN " " shown ${${lang}_cmd})
  message("run: ${shown}")
  execute_process(COMMAND ${${lang}_cmd} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message("FAILED: gort.h does not compile cleanly (${lang}): ${status}")
    set(failed TRUE)
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "include/gort.h has warnings or errors (see above)")
endif()
message("PASSED: gort.h compiles as C++17 and as pedantic C11, gort.hpp as C++17 and C++20")
