/* Per-adapter copies of the pretrained LayerNorms (Houlsby et al. 2019 train the LayerNorms per
 * task; AdapterHub keeps the model's frozen, which stays the default). An adapter may hold its own
 * copy of the sublayer LayerNorm at every point where it has a block, saved with it as
 *   <base>.encoder.layer.<i>.<output|attention.output>.adapters.<name>.original_ln.{weight,bias} [H]
 * While the adapter is active, the composition uses its copies wherever AdapterHub would apply the
 * sublayer's LayerNorm for that adapter (adapters/compose.c); an adapter without copies uses the
 * model's, so several task adapters can each bring their own. */
#ifndef ADAPT_ADAPTERS_LN_COPIES_H
#define ADAPT_ADAPTERS_LN_COPIES_H
#include "adapters/setup.h"

/* Adds copies, initialised from the model's LayerNorms, to adapter `name` (frozen like every new
 * tensor; setup_set_adapter_trainable covers them). Fails if it has them already. */
adapt_status ln_copies_add(adapt_model *m, const char *name);
/* Binds the copies present in the store for a loaded adapter: at every point of the adapter, or at
 * none (anything else is an error naming the tensor). Sets a->has_ln_copies. */
adapt_status ln_copies_bind(adapt_model *m, adapter_def *a);

#endif
