// Plugins: shared libraries that add kernels, layers, models or schedules to a minidl program that
// was not built with them (docs/plugins.md, examples/custom_op). A plugin is built against an
// installed minidl (find_package(minidl)) and defines its registration with one macro, in a file
// that also includes the registries it fills (the model registry, models/registry.h, here):
//
//   MINIDL_PLUGIN("silu") {   // the body runs once, when the plugin is loaded
//     minidl::register_model({"silu_cnn", "a small CNN with SiLU", {}, make_silu_cnn});
//   }
//
// and a program loads it by path: `minidl_train --plugin libsilu.so train --model silu_cnn ...`,
// or load_plugin("libsilu.so"). The macro records the minidl version and build switches the plugin
// was compiled against; load_plugin refuses one whose record differs from the running library's
// (the types it shares with minidl -- Tensor, Module, the registries -- change between them).
#pragma once

#include <string>
#include <vector>

#include "core/macros.h"

#define MINIDL_PLUGIN_STR2_(x) #x
#define MINIDL_PLUGIN_STR_(x) MINIDL_PLUGIN_STR2_(x)
#ifndef MINIDL_VERSION_MAJOR
#error "MINIDL_VERSION_MAJOR is not defined: link the target minidl::minidl (find_package(minidl)) or use pkg-config --cflags minidl"
#endif
// "0.1.0": the version components are compile definitions of the minidl target (numbers, so that
// pkg-config's flags need no quoting).
#ifndef MINIDL_VERSION
#define MINIDL_VERSION                                                                       \
  MINIDL_PLUGIN_STR_(MINIDL_VERSION_MAJOR) "." MINIDL_PLUGIN_STR_(MINIDL_VERSION_MINOR) "." \
  MINIDL_PLUGIN_STR_(MINIDL_VERSION_PATCH)
#endif
#ifndef MINIDL_WITH_NCCL
#define MINIDL_WITH_NCCL 0
#endif

// What must match between a plugin and the library that loads it. The version and the switches
// are compile definitions of the minidl target, so a plugin gets the values of the install it
// was built against.
#define MINIDL_BUILD_KEY                                                     \
  "minidl " MINIDL_VERSION " cuda=" MINIDL_PLUGIN_STR_(MINIDL_WITH_CUDA)     \
  " mpi=" MINIDL_PLUGIN_STR_(MINIDL_WITH_MPI) " nccl=" MINIDL_PLUGIN_STR_(MINIDL_WITH_NCCL)

// Defines the plugin's three entry points (C names, so dlsym finds them) and opens the body of its
// registration function.
#define MINIDL_PLUGIN(plugin_name)                                                             \
  static void minidl_plugin_register_body();                                                   \
  extern "C" __attribute__((visibility("default"))) const char* minidl_plugin_name() {         \
    return plugin_name;                                                                        \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) const char* minidl_plugin_build_key() {    \
    return MINIDL_BUILD_KEY;                                                                   \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) void minidl_plugin_register() {            \
    minidl_plugin_register_body();                                                             \
  }                                                                                            \
  static void minidl_plugin_register_body()

namespace minidl {

struct PluginInfo {
  std::string path;  // as given
  std::string name;  // the plugin's MINIDL_PLUGIN name
};

// Loads the shared library at `path` and runs its registration. Throws minidl::Error naming the
// path for: a missing file, a library the loader refuses (with its reason: a missing symbol, a
// wrong architecture), a library without MINIDL_PLUGIN's entry points, a plugin built against
// another minidl (both build keys in the message), or a registration that throws (a model name
// already taken). A path already loaded is not loaded twice. Plugins stay loaded until the
// process ends: the registries hold their functions.
PluginInfo load_plugin(const std::string& path);
// The plugins loaded so far, in order.
std::vector<PluginInfo> loaded_plugins();
// This library's build key (MINIDL_BUILD_KEY as libminidl was compiled).
std::string build_key();

}  // namespace minidl
