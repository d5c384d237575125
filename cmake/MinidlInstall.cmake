# `cmake --install build --prefix P` (docs/building.md, "Installing"):
#   P/lib/libminidl.so, P/lib/libminidl.a       the library, shared and static
#   P/include/minidl/<folder>/*.h               the headers, included as "core/tensor.h"
#   P/bin/minidl_train                          finds libminidl.so in ../lib
#   P/share/minidl/tools/                       the plot and paper scripts minidl_train calls
#   P/lib/cmake/minidl/                         find_package(minidl): minidl::minidl, minidl::minidl_static
#   P/lib/pkgconfig/minidl.pc                   pkg-config --cflags --libs minidl
# The package config finds the dependencies this build used again (CUDA, cuDNN, NCCL, MPI, oneDNN,
# yaml-cpp), so a project that links minidl::minidl names none of them.
include(CMakePackageConfigHelpers)
set(MINIDL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/minidl)

if(MINIDL_FUZZ)
  return()  # a fuzz build has no minidl_train and installs nothing
endif()

# Headers, by folder. kernels/cpu/isa_dispatch.h and core/cuda/launch.cuh are there for kernels
# written outside the tree (examples/custom_op).
foreach(dir core kernels layers optim data models dist)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/minidl/${dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
endforeach()

# The helper INTERFACE targets (OpenBLAS, oneDNN, yaml-cpp) travel in the export set because the
# static library needs them at link time; they hold absolute paths of this machine's packages.
install(TARGETS minidl minidl_static minidl_blas minidl_onednn minidl_yaml EXPORT minidlTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/minidl)
install(EXPORT minidlTargets NAMESPACE minidl:: DESTINATION ${MINIDL_CMAKE_DIR})

# minidl_train runs from the prefix: libminidl.so through $ORIGIN/../lib, the others (cuDNN in
# /usr/local/cuda, ...) through the paths it was linked with.
set_target_properties(minidl_train PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}"
                                              INSTALL_RPATH_USE_LINK_PATH TRUE)
set_target_properties(minidl PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS minidl_train RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES tools/plot_range_test.py tools/plot_run.py DESTINATION ${CMAKE_INSTALL_DATADIR}/minidl/tools)
install(DIRECTORY tools/paper/ DESTINATION ${CMAKE_INSTALL_DATADIR}/minidl/tools/paper)

configure_package_config_file(cmake/minidlConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/minidlConfig.cmake
                              INSTALL_DESTINATION ${MINIDL_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/minidlConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/minidlConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/minidlConfigVersion.cmake
              cmake/FindCUDNN.cmake cmake/FindNCCL.cmake cmake/MinidlPythonNvidia.cmake
        DESTINATION ${MINIDL_CMAKE_DIR})

# pkg-config: the shared library and its public compile definitions (what a plugin must be built with).
set(MINIDL_PC_DEFINES "-DMINIDL_VERSION_MAJOR=${PROJECT_VERSION_MAJOR} -DMINIDL_VERSION_MINOR=${PROJECT_VERSION_MINOR} -DMINIDL_VERSION_PATCH=${PROJECT_VERSION_PATCH}")
foreach(v CUDA MPI NCCL ONEDNN YAML)
  if(MINIDL_WITH_${v})
    string(APPEND MINIDL_PC_DEFINES " -DMINIDL_WITH_${v}=1")
  else()
    string(APPEND MINIDL_PC_DEFINES " -DMINIDL_WITH_${v}=0")
  endif()
endforeach()
configure_file(cmake/minidl.pc.in ${CMAKE_CURRENT_BINARY_DIR}/minidl.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/minidl.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The finite-difference gradient check minidl's layers are tested with (header-only, GoogleTest),
# for the tests of layers written outside the tree: #include "testing/gradient_check.h".
install(FILES tests/layers/gradient_check.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/minidl/testing)
