// The plugin's one registration: what `minidl_train --plugin libminidl_silu.so` adds.
#include "core/plugin.h"
#include "silu_layer.h"

MINIDL_PLUGIN("silu") {
  minidl::register_model({"silu_cnn", "a small CNN with SiLU activations (examples/custom_op)",
                          {}, minidl::make_silu_cnn});
}
