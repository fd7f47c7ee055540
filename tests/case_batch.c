#include "case_batch.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An integer tensor [B, T] as int32 rows repeated to `rows` rows; NULL when the file lacks it. */
static int32_t *read_rows(const st_file *f, const char *name, int rows, int *B, int *T)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return NULL;
    assert_int_equal(t->ndim, 2);
    int64_t *wide = malloc(t->numel * sizeof *wide);
    assert_non_null(wide);
    assert_int_equal(st_to_i64(f, t, wide), ADAPT_OK);
    *B = (int)t->shape[0], *T = (int)t->shape[1];
    int n = rows > 0 ? rows : *B;
    int32_t *out = malloc((size_t)n * *T * sizeof *out);
    assert_non_null(out);
    for (int r = 0; r < n; r++)
        for (int k = 0; k < *T; k++) out[(size_t)r * *T + k] = (int32_t)wide[(size_t)(r % *B) * *T + k];
    free(wide);
    return out;
}

case_batch case_batch_read(const char *case_name, int rows)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/cases/%s/inputs.safetensors", case_name);
    st_file f;
    if (st_open(shared_path(rel), &f)) fail_msg("%s", adapt_error());
    case_batch b = {0};
    int B2, T2;
    b.ids = read_rows(&f, "input_ids", rows, &b.B, &b.T);
    b.mask = read_rows(&f, "attention_mask", rows, &B2, &T2);
    b.type_ids = read_rows(&f, "token_type_ids", rows, &B2, &T2);
    st_close(&f);
    assert_non_null(b.ids);
    assert_non_null(b.mask);
    if (rows > 0) b.B = rows;
    return b;
}

void case_batch_free(case_batch *b)
{
    free(b->ids);
    free(b->mask);
    free(b->type_ids);
}
