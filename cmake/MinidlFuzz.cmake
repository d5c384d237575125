# MINIDL_FUZZ=ON: the libFuzzer configuration (tools/fuzz.sh, docs/fuzzing.md). clang only; the
# library's CPU parts and the parsers' fuzz targets in tests/fuzz, everything compiled with coverage
# instrumentation, AddressSanitizer and UndefinedBehaviorSanitizer (any report aborts: a crash).
# No CUDA, no MPI, no GoogleTest suites, no benchmarks: the normal builds are untouched.
if(NOT MINIDL_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "MINIDL_FUZZ=ON needs clang (libFuzzer): configure with "
                      "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang (tools/fuzz.sh does)")
endif()
set(MINIDL_CUDA OFF)
set(MINIDL_MPI OFF)
set(MINIDL_TESTS OFF)
set(_fuzz_flags -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                -fno-omit-frame-pointer -g)
add_compile_options(${_fuzz_flags})
add_link_options(-fsanitize=address,undefined)
# stb_image and stb_image_write, compiled in data/image_io.cpp, do integer arithmetic that is
# undefined in C++17 on some input, and the fuzzer finds it within seconds: they shift negative ints
# left in their bit buffers (defined in C++20 and by every compiler, what stb means), and on corrupt
# JPEG entropy data Debian 12's stb 2.27 runs its bit count negative (a shift by 32) or overflows a
# DC sum (CVE-2022-28041); stb 2.28 added checks for both. The result is wrong pixels of a corrupt
# file, not a memory error, so for that one file these three UBSan checks are off; AddressSanitizer
# and every other check stay on (docs/fuzzing.md).
set_source_files_properties(${CMAKE_SOURCE_DIR}/data/image_io.cpp PROPERTIES
  COMPILE_OPTIONS "-fno-sanitize=shift-base,shift-exponent,signed-integer-overflow")
