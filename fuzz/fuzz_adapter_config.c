/* The "config" objects of AdapterHub files: BnConfig (adapter_config.json, with and without a
 * "version" key) and the fusion config (adapter_fusion_config.json). The first byte picks one;
 * accepted configs are written back (bn_config_to_json / fusion_config_to_json), read again and
 * queried per layer. */
#include "fuzz_common.h"
#include "adapters/bn_config.h"
#include "adapters/fusion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] % 3;
    cJSON *root = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!root) return 0;
    if (mode < 2) {
        bn_config c;
        if (fuzz_check(bn_config_from_json(root, "adapter_config.json", mode == 0, &c), "bn_config_from_json") == ADAPT_OK) {
            for (int l = 0; l < 4; l++) {
                (void)bn_reduction_factor(&c, l);
                (void)bn_bottleneck_dim(&c, l, 768);
                (void)bn_config_has_location(&c, l, true);
                (void)bn_config_has_location(&c, l, false);
            }
            if (c.inv_adapter != BN_INV_NONE) (void)bn_inv_dim(&c, 384);
            cJSON *out = bn_config_to_json(&c);
            if (out) {
                bn_config again;
                (void)bn_config_from_json(out, "round trip", true, &again);
                cJSON_Delete(out);
            }
        }
    } else {
        fusion_config c;
        if (fuzz_check(fusion_config_from_json(root, "adapter_fusion_config.json", &c), "fusion_config_from_json") == ADAPT_OK) {
            double T = fusion_initial_temperature(&c);
            for (int i = 0; i < 3; i++) T = fusion_next_temperature(&c, T);
            cJSON *out = fusion_config_to_json(&c);
            if (out) {
                fusion_config again;
                (void)fusion_config_from_json(out, "round trip", &again);
                cJSON_Delete(out);
            }
        }
    }
    cJSON_Delete(root);
    return 0;
}
