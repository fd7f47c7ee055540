/* CoNLL reader (conll_read): the first byte picks the scheme (IOB2, IOB1, plain), tokens-only
 * mode and a given label list; the rest is the file. */
#include "fuzz_common.h"
#include "data/conll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const labels[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
    conll_options opt = {(conll_scheme)((data[0] & 3) % 3), NULL, 0, (data[0] & 4) != 0};
    if (data[0] & 8) {
        opt.labels = labels;
        opt.n_labels = 5;
    }
    const char *path = fuzz_write_file("train.conll", data + 1, size - 1);
    dataset ds;
    (void)fuzz_check(conll_read(path, (data[0] & 16) ? NULL : &opt, &ds), "conll_read");
    dataset_free(&ds);
    return 0;
}
