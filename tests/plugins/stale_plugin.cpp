// A plugin for tests/models/test_plugin.cpp as if built against another minidl: load_plugin must
// refuse it before its registration runs.
#define MINIDL_VERSION "0.0.0-stale"  // core/plugin.h builds it from the version components otherwise
#include "core/plugin.h"
#include "core/error.h"

MINIDL_PLUGIN("test_stale") { MINIDL_FAIL("the stale plugin's registration ran"); }
