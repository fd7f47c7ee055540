/* Allocation helpers for the tokenizer. Sizes are bounded by validated input, so exhaustion is
 * treated as fatal instead of threading a status through every string operation. */
#include "tokenize/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n)
{
    fprintf(stderr, "adapt: out of memory (tokenizer, %zu bytes)\n", n);
    abort();
}

void *tk_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *tk_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *tk_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tk_alloc(n);
    memcpy(p, s, n);
    return p;
}
