/* config.json of a Hugging Face checkpoint (hf_config_from_json). */
#include "fuzz_common.h"
#include "formats/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root) return 0;
    model_config cfg;
    if (fuzz_check(hf_config_from_json(root, "config.json", &cfg), "hf_config_from_json") == ADAPT_OK) {
        (void)activation_name(cfg.hidden_act);
        for (int i = 0; i < cfg.num_labels; i++)
            if (!cfg.id2label[i]) abort();
        hf_config_free(&cfg);
    }
    cJSON_Delete(root);
    return 0;
}
