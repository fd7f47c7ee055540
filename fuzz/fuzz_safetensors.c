/* safetensors reader: st_open on the input, then every tensor converted (st_to_f32 / st_to_i64). */
#include "fuzz_common.h"
#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("model.safetensors", data, size);
    st_file f;
    if (fuzz_check(st_open(path, &f), "st_open") != ADAPT_OK) return 0;
    for (size_t i = 0; i < f.count; i++) {
        const st_tensor *t = &f.tensors[i];
        if (st_find(&f, t->name) == NULL) abort(); /* every listed tensor must be found by name */
        if (t->numel > ((size_t)1 << 22)) continue;
        float *x = malloc((t->numel ? t->numel : 1) * sizeof *x);
        int64_t *y = malloc((t->numel ? t->numel : 1) * sizeof *y);
        if (!x || !y) abort();
        (void)st_to_f32(&f, t, x);
        (void)st_to_i64(&f, t, y);
        free(x);
        free(y);
    }
    st_close(&f);
    return 0;
}
