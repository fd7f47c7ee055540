/* AdapterHub's legacy weight files (pytorch_adapter.bin, pytorch_model_head.bin,
 * pytorch_model_adapter_fusion.bin): torch.save's zip archive of data.pkl + data/<key> storages.
 *
 * Only what torch.save writes for a flat state dict of float tensors is read: a zip with stored
 * (uncompressed) entries, and a pickle that uses OrderedDict, torch._utils._rebuild_tensor_v2 and
 * Float/Half/BFloat16 storages through persistent ids. The pickle is interpreted by a small stack
 * machine that builds values only: any other global, any opcode outside that set, and any size or
 * offset that does not fit the file is refused with an error naming the file. Nothing is executed. */
#ifndef ADAPT_FORMATS_TORCH_ZIP_H
#define ADAPT_FORMATS_TORCH_ZIP_H
#include "adapt.h"

typedef struct torch_tensor {
    char *name;
    adapt_dtype dtype;           /* F32, F16 or BF16 */
    int ndim;
    int64_t shape[ADAPT_MAX_DIMS];
    void *data;                  /* row-major copy, nbytes long */
    size_t nbytes;
} torch_tensor;

/* Reads a torch.save state dict from memory (`path` names it in errors). */
adapt_status torch_state_dict_parse(const unsigned char *file, size_t size, const char *path, torch_tensor **out, size_t *n);
adapt_status torch_state_dict_load(const char *path, torch_tensor **out, size_t *n);
void torch_tensors_free(torch_tensor *t, size_t n);

/* `adapt convert`: every legacy .bin of an AdapterHub folder to its safetensors name
 * (pytorch_adapter.bin -> adapter.safetensors, pytorch_model_head.bin -> model_head.safetensors,
 * pytorch_model_adapter_fusion.bin -> model_adapter_fusion.safetensors), the JSON files copied.
 * *converted receives the number of weight files written. */
adapt_status torch_convert_adapter_dir(const char *in_dir, const char *out_dir, int *converted);

#endif
