# Runs the command after `--` and passes only when it fails as a run with a dead or hung rank must:
# a non-zero exit within MAX_SECONDS, with output matching EXPECT (a regular expression).
#
#   cmake -DEXPECT=<regex> -DMAX_SECONDS=<s> -P expect_abort.cmake -- mpirun ... <program> ...
#
# The late rank of minidl_mpi_timeout joins after a delay longer than MAX_SECONDS, so a run whose
# timeout did not fire ends by itself (exit 0 after the delay: a failure here), and a stopped rank
# is caught by the hard limit below; neither hangs the test.
foreach(var EXPECT MAX_SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect_abort.cmake: -D${var}=... is required")
  endif()
endforeach()

set(command "")
set(after_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_dashes)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_dashes TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "expect_abort.cmake: no command after --")
endif()

string(TIMESTAMP start "%s")
math(EXPR hard_limit "${MAX_SECONDS} * 4")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT ${hard_limit})
string(TIMESTAMP end "%s")
math(EXPR took "${end} - ${start}")
message("${out}${err}")
message("expect_abort.cmake: exit status '${rc}' after ${took} s")

if(rc STREQUAL "0")
  message(FATAL_ERROR "the run succeeded: it should have stopped with an error")
endif()
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "the run did not end by itself: ${rc}")
endif()
if(took GREATER MAX_SECONDS)
  message(FATAL_ERROR "the run took ${took} s, more than ${MAX_SECONDS} s")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output does not match: ${EXPECT}")
endif()
