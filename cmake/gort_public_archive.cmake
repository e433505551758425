# Makes the libgort.a that C programs link (build/lib/libgort.a, the installed one) out of
# cargo's target/release/libgort.a, leaving only the C API global.
#
# Why: cargo's staticlib holds gort together with its own copy of Rust's std, core, alloc
# and compiler_builtins, some 2,100 global symbols (__rust_alloc, rust_eh_personality, every
# std function). Linked beside another Rust static library with --whole-archive, that is
# thousands of duplicate definitions; without --whole-archive the linker quietly takes one
# copy of std for both libraries, whichever Rust versions built them.
#
# How:
#   1. ld -r --whole-archive: all members into one relocatable object, so that the
#      references between gort, std and the other crates are resolved within it before
#      their symbols become local. What it needs from outside (libc, libgcc_s: the
#      libraries pkg-config's Libs.private lists) stays undefined and global.
#   2. objcopy: every defined symbol local except gort_* ones of default visibility (the
#      hidden gort_tls_m, gort_tls_state and gort_gdb_script_anchor go local too), and
#      three kinds of sections removed:
#      - section groups (.group), dissolved into plain sections: linkers deduplicate COMDAT
#        groups by name even when the group's symbol is local, so gort's
#        DW.ref.rust_eh_personality group and the other library's would be merged, leaving
#        one library's unwind tables pointing at a symbol that is gone (a link error with
#        gort first: "relocation ... against undefined hidden symbol
#        `DW.ref.rust_eh_personality'") or at the other library's personality routine;
#      - .llvmbc and .llvmcmd, the LLVM bitcode rustc embeds for LTO: no C linker uses it
#        (the sections are SHF_EXCLUDE), ld -r has concatenated the members' modules into
#        one invalid blob, and binutils' ar hands it to an installed LLVMgold plugin when
#        indexing, which aborts ("LLVM ERROR: Invalid encoding");
#      - .llvm_addrsig, whose symbol indices objcopy's renumbering would make stale (lld
#        reads it for --icf=safe).
#   3. ar: the object as the archive's only member, with a deterministic index.
#
# Debug information is kept (the build tree's tests and profiles use it); the install
# step decides how much of it to install.
#
#   cmake -DINPUT=target/release/libgort.a -DOUTPUT=libgort.a \
#         [-DLD=ld] [-DOBJCOPY=objcopy] [-DAR=ar] -P cmake/gort_public_archive.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var INPUT OUTPUT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "gort_public_archive.cmake: -D${var}=... is required")
  endif()
endforeach()
foreach(tool LD OBJCOPY AR)
  if(NOT DEFINED ${tool} OR "${${tool}}" STREQUAL "")
    string(TOLOWER "${tool}" name)
    find_program(${tool} ${name} REQUIRED)
  endif()
endforeach()

set(work "${OUTPUT}.work")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    string(JOIN " " shown ${ARGN})
    message(FATAL_ERROR "gort_public_archive.cmake: failed (${status}): ${shown}")
  endif()
endfunction()

run("${LD}" -r --whole-archive "${INPUT}" -o "${work}/gort-all.o")
run("${OBJCOPY}"
    --wildcard --keep-global-symbol=gort_* --localize-hidden
    --remove-section=.group
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.llvm_addrsig
    "${work}/gort-all.o" "${work}/gort.o")
run("${AR}" rcsD "${work}/libgort.a" "${work}/gort.o")
file(RENAME "${work}/libgort.a" "${OUTPUT}")
file(REMOVE_RECURSE "${work}")
