/* AdapterHub folders loaded into a tiny BERT (hidden 32, 2 layers): adapter_config.json +
 * adapter.safetensors, head_config.json + model_head.safetensors, or adapter_fusion_config.json +
 * model_adapter_fusion.safetensors (adapters a, b and c exist beforehand). The first byte picks
 * the kind ((b & 3) % 3), whether a load_as name is given (& 4) and a RoBERTa model (& 8); the rest is the JSON file, FUZZ_SEP,
 * then the safetensors file (also as adapter_model.safetensors, which a PEFT prefix tuning's config reads). A loaded adapter or fusion then runs one small batch. A fresh model per
 * input keeps runs independent. */
#include "fuzz_common.h"
#include "adapters/setup.h"
#include "formats/adapterhub.h"
#include "fuzz_model.h"

/* One batch (2 x 4 tokens, the second with padding) through the active setup. */
static void run_batch(adapt_model *m)
{
    static const int32_t ids[8] = {2, 5, 6, 3, 2, 7, 3, 0}, mask[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    float hidden[8 * 32];
    (void)fuzz_check(adapt_model_encode(m, 2, 4, ids, mask, NULL, hidden, NULL), "encode");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int kind = (data[0] & 3) % 3;
    const char *load_as = (data[0] & 4) ? "renamed" : NULL;
    fuzz_part p[2];
    size_t n = fuzz_split(data + 1, size - 1, p, 2);
    static const char *files[3][2] = {{"adapter_config.json", "adapter.safetensors"},
                                      {"head_config.json", "model_head.safetensors"},
                                      {"adapter_fusion_config.json", "model_adapter_fusion.safetensors"}};
    fuzz_clear_dir();
    for (size_t i = 0; i < n; i++) fuzz_write_file(files[kind][i], p[i].data, p[i].size);
    if (kind == 0 && n == 2) fuzz_write_file("adapter_model.safetensors", p[1].data, p[1].size); /* a PEFT prefix tuning's */
    adapt_model *m = fuzz_tiny_model(data[0] & 8);
    if (kind == 0) {
        char name[ADAPTER_NAME_MAX + 8];
        if (fuzz_check(adapterhub_load_adapter(m, fuzz_dir(), load_as, name, sizeof name), "load_adapter") == ADAPT_OK) if (setup_activate(m, name) == ADAPT_OK) run_batch(m);
    } else if (kind == 1) {
        head h;
        memset(&h, 0, sizeof h);
        (void)fuzz_check(adapterhub_load_head(m, fuzz_dir(), load_as, &h), "load_head");
    } else {
        bn_config bc;
        if (bn_config_parse_string("seq_bn", &bc) != ADAPT_OK) abort();
        static const char *names[] = {"a", "b", "c"};
        for (int i = 0; i < 3; i++)
            if (setup_add_adapter(m, names[i], &bc, true) != ADAPT_OK) abort();
        if (fuzz_check(adapterhub_load_fusion(m, fuzz_dir()), "load_fusion") == ADAPT_OK) if (setup_activate(m, "Fuse(a, b, c)") == ADAPT_OK) run_batch(m);
    }
    adapt_model_free(m);
    return 0;
}
