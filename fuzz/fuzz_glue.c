/* GLUE TSV reader (glue_read): the first byte picks the task and the options (unlabeled,
 * regression for "tsv", a given label list); the rest is the file. */
#include "fuzz_common.h"
#include "data/glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *tasks[] = {"sst2", "cola", "mrpc", "rte", "qnli", "qqp", "mnli", "wnli", "stsb", "tsv"};
    const glue_task *task = glue_task_find(tasks[(data[0] & 15) % 10]);
    if (!task) abort();
    static const char *const labels[] = {"0", "1", "x"};
    glue_options opt = {NULL, 0, (data[0] & 16) != 0, (data[0] & 32) != 0};
    if (data[0] & 64) {
        opt.labels = labels;
        opt.n_labels = 3;
    }
    const char *path = fuzz_write_file("dev.tsv", data + 1, size - 1);
    dataset ds;
    (void)fuzz_check(glue_read(path, task, (data[0] & 128) ? NULL : &opt, &ds), "glue_read");
    dataset_free(&ds);
    return 0;
}
