/* torch.save archives (AdapterHub's legacy pytorch_adapter.bin): torch_state_dict_parse on the
 * input; every tensor it returns must hold exactly shape-product elements. */
#include "fuzz_common.h"
#include "formats/safetensors.h"
#include "formats/torch_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    torch_tensor *t = NULL;
    size_t n = 0;
    if (fuzz_check(torch_state_dict_parse(data, size, "pytorch_adapter.bin", &t, &n), "torch_state_dict_parse") != ADAPT_OK) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        if (numel * dtype_size(t[i].dtype) != t[i].nbytes) abort();
    }
    torch_tensors_free(t, n);
    return 0;
}
