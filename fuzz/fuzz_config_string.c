/* Adapter, fusion and adapter-spec config strings ("seq_bn[reduction_factor=8]",
 * "dynamic[temperature=true]", "prefix_tuning[prefix_length=10]|par_bn", "mam"). The first byte
 * picks the parser. */
#include "fuzz_common.h"
#include "adapters/bn_config.h"
#include "adapters/fusion.h"
#include "adapters/adapter_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = fuzz_strndup(data + 1, size - 1);
    if (data[0] & 2) {
        adapter_spec c;
        if (fuzz_check(adapter_spec_parse_string(s, &c), "adapter_spec_parse_string") == ADAPT_OK) {
            cJSON *j = adapter_spec_to_json(&c);
            adapter_spec back;
            if (!j || adapter_spec_from_json(j, "round trip", true, &back) != ADAPT_OK) abort(); /* what it writes, it reads */
            cJSON *again = adapter_spec_to_json(&back); /* and writes the same again */
            if (!again || !cJSON_Compare(j, again, true)) abort();
            cJSON_Delete(again);
            cJSON_Delete(j);
        }
    } else if (data[0] & 1) {
        fusion_config c;
        if (fuzz_check(fusion_config_parse_string(s, &c), "fusion_config_parse_string") == ADAPT_OK) {
            cJSON *j = fusion_config_to_json(&c);
            cJSON_Delete(j);
        }
    } else {
        bn_config c;
        if (fuzz_check(bn_config_parse_string(s, &c), "bn_config_parse_string") == ADAPT_OK) {
            (void)bn_bottleneck_dim(&c, 0, 768);
            cJSON *j = bn_config_to_json(&c);
            cJSON_Delete(j);
        }
    }
    free(s);
    return 0;
}
