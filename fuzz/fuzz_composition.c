/* Composition strings ("Stack(a, Fuse(b, c))"): comp_parse, then comp_format (into a large and a tiny
 * buffer) and comp_first. */
#include "fuzz_common.h"
#include "adapters/setup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    comp_node *n = NULL;
    if (fuzz_check(comp_parse(s, &n), "comp_parse") == ADAPT_OK) {
        if (!n) abort();
        char buf[8192], small[7];
        comp_format(n, buf, sizeof buf);
        comp_format(n, small, sizeof small);
        (void)comp_first(n);
        comp_free(n);
    }
    free(s);
    return 0;
}
