# Host dependencies: OpenBLAS (minidl_blas), threads, zlib, MPI (MINIDL_MPI = AUTO | ON | OFF).
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)  # safetensors headers, configs, metrics (Debian nlohmann-json3-dev)

# OpenBLAS: Debian's libopenblas-dev. MINIDL_PORTABLE links the static archive (and its Fortran runtime)
# into libminidl so that the GPU machine, which has no OpenBLAS, needs nothing more.
find_path(OPENBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas
          /usr/include/x86_64-linux-gnu /usr/include)
if(MINIDL_PORTABLE)
  find_library(OPENBLAS_LIBRARY NAMES libopenblas.a PATHS /usr/lib/x86_64-linux-gnu/openblas-pthread)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libgfortran.a OUTPUT_VARIABLE _gfortran
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libquadmath.a OUTPUT_VARIABLE _quadmath
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(OPENBLAS_EXTRA ${_gfortran} ${_quadmath})
else()
  find_library(OPENBLAS_LIBRARY NAMES openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-pthread)
endif()
if(NOT OPENBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
  message(FATAL_ERROR "OpenBLAS not found: run tools/setup.sh (Debian package libopenblas-dev)")
endif()
add_library(minidl_blas INTERFACE)
target_include_directories(minidl_blas INTERFACE ${OPENBLAS_INCLUDE_DIR})
target_link_libraries(minidl_blas INTERFACE ${OPENBLAS_LIBRARY} ${OPENBLAS_EXTRA})

set(MINIDL_WITH_MPI OFF)
if(NOT MINIDL_MPI STREQUAL "OFF")
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(MINIDL_WITH_MPI ON)
  elseif(MINIDL_MPI STREQUAL "ON")
    message(FATAL_ERROR "MINIDL_MPI=ON but MPI was not found (Debian: libopenmpi-dev)")
  endif()
endif()

# yaml-cpp (Debian's libyaml-cpp-dev): schedules and experiment configs in YAML or JSON. Debian ships
# it as a shared library and a non-PIC static archive (which cannot go into libminidl.so), so
# MINIDL_PORTABLE builds -- the GPU machine's bundle, which may need nothing beyond CUDA -- leave it
# out: MINIDL_WITH_YAML=0 there and the config readers say so (flag strings still work).
add_library(minidl_yaml INTERFACE)
if(MINIDL_PORTABLE)
  set(MINIDL_WITH_YAML OFF)
else()
  find_package(yaml-cpp REQUIRED)
  set(MINIDL_WITH_YAML ON)
  target_link_libraries(minidl_yaml INTERFACE yaml-cpp)
endif()
target_compile_definitions(minidl_yaml INTERFACE MINIDL_WITH_YAML=$<BOOL:${MINIDL_WITH_YAML}>)

# oneDNN (Debian's libdnnl-dev): the CPU convolutions (kernels/cpu/conv_onednn.cpp), as in PyTorch.
# MINIDL_ONEDNN = AUTO | ON | OFF. Debian ships it as a shared library only, so MINIDL_PORTABLE builds
# (the GPU machine's bundle) leave it out and convolve with the reference im2col + OpenBLAS path; so do
# MINIDL_FUZZ builds (clang would bring LLVM's OpenMP beside oneDNN's libgomp, and parsers convolve nothing).
# oneDNN runs on OpenMP threads (Debian builds it with libgomp): minidl sets their number.
set(MINIDL_ONEDNN AUTO CACHE STRING "CPU convolutions by oneDNN: AUTO, ON or OFF")
set_property(CACHE MINIDL_ONEDNN PROPERTY STRINGS AUTO ON OFF)
set(MINIDL_WITH_ONEDNN OFF)
add_library(minidl_onednn INTERFACE)
if(NOT MINIDL_ONEDNN STREQUAL "OFF" AND NOT MINIDL_PORTABLE AND NOT MINIDL_FUZZ)
  find_package(dnnl QUIET CONFIG)
  find_package(OpenMP QUIET COMPONENTS CXX)
  if(dnnl_FOUND AND OpenMP_CXX_FOUND)
    set(MINIDL_WITH_ONEDNN ON)
    target_link_libraries(minidl_onednn INTERFACE DNNL::dnnl OpenMP::OpenMP_CXX)
  elseif(MINIDL_ONEDNN STREQUAL "ON")
    message(FATAL_ERROR "MINIDL_ONEDNN=ON but oneDNN (or OpenMP) was not found: run tools/setup.sh (Debian package libdnnl-dev)")
  endif()
endif()

# protobuf (Debian's libprotobuf-dev and protobuf-compiler): TensorBoard event files
# (optim/event_file.cpp, optim/tensorboard_event.proto). MINIDL_PORTABLE builds (the GPU machine's
# bundle: a shared library that machine lacks) and MINIDL_FUZZ builds leave it out; there the
# writer says so when asked for events.
set(MINIDL_WITH_TENSORBOARD OFF)
if(NOT MINIDL_PORTABLE AND NOT MINIDL_FUZZ)
  find_package(Protobuf QUIET)
  if(Protobuf_FOUND AND Protobuf_PROTOC_EXECUTABLE)
    set(MINIDL_WITH_TENSORBOARD ON)
  endif()
endif()
