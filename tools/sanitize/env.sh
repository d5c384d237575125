# Sanitizer run-time options of the build/sanitize configuration (tools/test.sh --sanitize).
# test.sh sources this file before ctest; to run that build's tests or binaries by hand, source it
# first (`source tools/sanitize/env.sh`).
# Every test, and every minidl_train a test starts, inherits them, so any report fails its test:
# - ASan: stop at the first error and abort (status 134, which no test expects, rather than exit 1);
#   also catch a stack frame used after its function returned (threads handed a reference to a
#   local) and a static initialiser that reads another file's not-yet-constructed object.
# - LeakSanitizer (part of ASan on Linux x86-64): checks for leaks at every process exit; a leak
#   aborts the same way. No suppressions are needed: OpenBLAS (Debian's pthread build, not
#   instrumented), our thread pool and the loader's workers report nothing, and PyTorch runs in a
#   separate process that is not instrumented.
# - UBSan: the build has -fno-sanitize-recover=all (CMakeLists.txt), so the first report aborts;
#   print_stacktrace gives the whole stack rather than the line alone.
ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1"
export ASAN_OPTIONS="$ASAN_OPTIONS:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
