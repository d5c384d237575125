// Plugins by dlopen: load, check the build key, register (core/plugin.h).
#include "core/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace minidl {

namespace {

std::mutex& plugins_mutex() {
  static std::mutex m;
  return m;
}

struct Loaded {
  std::string real_path;  // realpath(): the same file under two names is loaded once
  PluginInfo info;
};

std::vector<Loaded>& plugins() {
  static std::vector<Loaded> v;
  return v;
}

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

}  // namespace

std::string build_key() { return MINIDL_BUILD_KEY; }

PluginInfo load_plugin(const std::string& path) {
  std::lock_guard<std::mutex> lock(plugins_mutex());
  MINIDL_CHECK(!path.empty(), "plugin: empty path");
  struct stat st;
  MINIDL_CHECK(stat(path.c_str(), &st) == 0, "plugin '", path, "': no such file");
  MINIDL_CHECK(S_ISREG(st.st_mode), "plugin '", path, "': not a regular file");
  std::unique_ptr<char, decltype(&std::free)> real(realpath(path.c_str(), nullptr), &std::free);
  MINIDL_CHECK(real != nullptr, "plugin '", path, "': cannot resolve the path");
  for (const Loaded& l : plugins())
    if (l.real_path == real.get()) return l.info;

  // RTLD_NOW: an undefined symbol (a plugin built against another minidl, a library it needs that
  // is missing) fails here, with the loader's reason, not at the first call. RTLD_LOCAL: two plugins
  // may define the same helper names.
  dlerror();
  void* handle = dlopen(real.get(), RTLD_NOW | RTLD_LOCAL);
  MINIDL_CHECK(handle != nullptr, "plugin '", path, "': cannot load: ", dl_error());
  auto symbol = [&](const char* name) {
    dlerror();
    void* p = dlsym(handle, name);
    if (p == nullptr) {
      dlclose(handle);
      MINIDL_FAIL("plugin '", path, "' is not a minidl plugin: it has no symbol ", name,
                   " (define its registration with MINIDL_PLUGIN from core/plugin.h)");
    }
    return p;
  };
  auto name_fn = reinterpret_cast<const char* (*)()>(symbol("minidl_plugin_name"));
  auto key_fn = reinterpret_cast<const char* (*)()>(symbol("minidl_plugin_build_key"));
  auto register_fn = reinterpret_cast<void (*)()>(symbol("minidl_plugin_register"));
  std::string key = key_fn();
  if (key != build_key()) {
    dlclose(handle);
    MINIDL_FAIL("plugin '", path, "' was built against \"", key, "\", but this is \"",
                 build_key(), "\": rebuild it against this minidl");
  }
  PluginInfo info{path, name_fn()};
  // The handle stays open whether registration succeeds or not: what it registered before a
  // throw points into the library.
  try {
    register_fn();
  } catch (const std::exception& e) {
    MINIDL_FAIL("plugin '", path, "' (", info.name, "): registration failed: ", e.what());
  }
  plugins().push_back({real.get(), info});
  return info;
}

std::vector<PluginInfo> loaded_plugins() {
  std::lock_guard<std::mutex> lock(plugins_mutex());
  std::vector<PluginInfo> out;
  for (const Loaded& l : plugins()) out.push_back(l.info);
  return out;
}

}  // namespace minidl
