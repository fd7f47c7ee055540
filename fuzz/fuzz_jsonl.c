/* JSON Lines reader (jsonl_read): the first byte picks the options (regression, unlabeled, scheme,
 * a given label list, the required record kind); the rest is the file. */
#include "fuzz_common.h"
#include "data/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const labels[] = {"O", "B-PER", "I-PER", "pos", "neg", "1"};
    jsonl_options opt = {NULL, 0, (data[0] & 1) != 0, (data[0] & 2) != 0, (conll_scheme)((data[0] >> 2) % 3),
                         (jsonl_records)((data[0] >> 6) % 3), (data[0] & 8) ? "task ner" : NULL};
    if (data[0] & 16) {
        opt.labels = labels;
        opt.n_labels = 6;
    }
    const char *path = fuzz_write_file("data.jsonl", data + 1, size - 1);
    dataset ds;
    (void)fuzz_check(jsonl_read(path, (data[0] & 32) ? NULL : &opt, &ds), "jsonl_read");
    dataset_free(&ds);
    return 0;
}
