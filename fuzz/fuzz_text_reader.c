/* Plain / xz text reader: the first byte picks lines or documents and a small max_line; the rest is
 * the file. Reads to the end, rewinds, reads once more. */
#include "fuzz_common.h"
#include "data/text_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max_line = (data[0] & 2) ? 64 : 0;
    bool docs = data[0] & 1;
    const char *path = fuzz_write_file("corpus.txt", data + 1, size - 1);
    text_reader *r = NULL;
    if (fuzz_check(text_reader_open(path, max_line, &r), "text_reader_open") != ADAPT_OK) return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < 100000; k++) {
            const char *s = NULL;
            size_t len = 0;
            adapt_status st = docs ? text_reader_next_document(r, (data[0] & 4) ? 128 : 0, &s, &len)
                                   : text_reader_next(r, &s, &len);
            if (st != ADAPT_OK || !s) break;
            if (!docs && s[len] != 0) abort(); /* a line is NUL-terminated at len */
            (void)text_reader_line_number(r);
            (void)text_reader_bytes_consumed(r);
        }
        if (text_reader_rewind(r) != ADAPT_OK) break;
    }
    (void)text_reader_is_xz(r);
    (void)text_reader_file_size(r);
    text_reader_close(r);
    return 0;
}
