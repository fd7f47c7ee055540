/* PEFT LoRA / IA3 folders (adapter_config.json + adapter_model.safetensors) or AdapterHub's LoRA /
 * (IA)^3 folders (adapter.safetensors instead: byte 0 & 32) loaded into a tiny BERT or
 * XLM-R (hidden 32, 2 layers; byte 0 & 8) under PEFT's default name or another (byte 0 & 16),
 * then merged and unmerged (byte 0 & 1), loaded a second time under a third name, switched to,
 * away from and deleted (byte 0 & 4), and saved (byte 0 & 2, over the input); the rest is the
 * JSON file, FUZZ_SEP, then the safetensors file. */
#include "fuzz_common.h"
#include "adapters/lora.h"
#include "formats/peft.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fuzz_part p[2];
    size_t n = fuzz_split(data + 1, size - 1, p, 2);
    const char *files[2] = {"adapter_config.json", data[0] & 32 ? "adapter.safetensors" : "adapter_model.safetensors"};
    fuzz_clear_dir();
    for (size_t i = 0; i < n; i++) fuzz_write_file(files[i], p[i].data, p[i].size);
    adapt_model *m = fuzz_tiny_model(data[0] & 8);
    const char *name = data[0] & 16 ? "fuzzed" : LORA_DEFAULT_NAME;
    if (fuzz_check(peft_load_as(m, fuzz_dir(), name), "peft_load_as") == ADAPT_OK) {
        if ((data[0] & 1) && fuzz_check(lora_merge(m), "lora_merge") == ADAPT_OK)
            (void)fuzz_check(lora_unmerge(m), "lora_unmerge");
        if ((data[0] & 4) && fuzz_check(peft_load_as(m, fuzz_dir(), "second"), "peft_load_as") == ADAPT_OK) {
            (void)fuzz_check(lora_activate(m, "second"), "lora_activate");
            (void)fuzz_check(lora_activate(m, NULL), "lora_activate");
            (void)fuzz_check(lora_delete(m, "second"), "lora_delete");
            (void)fuzz_check(lora_activate(m, name), "lora_activate");
        }
        if (data[0] & 2) (void)fuzz_check(peft_save(m, fuzz_dir(), "TOKEN_CLS"), "peft_save"); /* over the input files */
    }
    adapt_model_free(m);
    return 0;
}
