/* Model folder loading (adapt_model_load): the input describes a whole folder, split at FUZZ_SEP.
 * The first input byte picks the layout: even = single file (config.json, model.safetensors),
 * odd = sharded (config.json, model.safetensors.index.json, shard-a.safetensors,
 * shard-b.safetensors). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool sharded = data[0] & 1;
    fuzz_part p[4];
    size_t n = fuzz_split(data + 1, size - 1, p, 4);
    fuzz_clear_dir();
    static const char *single[] = {"config.json", "model.safetensors"};
    static const char *shards[] = {"config.json", "model.safetensors.index.json", "shard-a.safetensors", "shard-b.safetensors"};
    for (size_t i = 0; i < n && i < (sharded ? 4u : 2u); i++)
        fuzz_write_file(sharded ? shards[i] : single[i], p[i].data, p[i].size);
    adapt_model *m = NULL;
    if (fuzz_check(adapt_model_load(fuzz_dir(), &m), "adapt_model_load") == ADAPT_OK) {
        adapt_model_info info;
        adapt_model_get_info(m, &info);
        adapt_model_free(m);
    }
    return 0;
}
