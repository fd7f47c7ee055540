/* Streaming line reader over plain text or xz-compressed text, in bounded memory.
 *
 * The format is decided by the first bytes (xz magic FD 37 7A 58 5A 00), not the file name; a
 * ".xz" name without the magic, or a gzip/bzip2/zstd file, is refused with a clear message.
 * Concatenated xz streams are decoded as one. Every line is checked: valid UTF-8, no NUL bytes,
 * at most max_line bytes; a UTF-8 byte-order mark at the start of the file is dropped, and so
 * is the "\r" of a "\r\n" ending. Errors name the file and the line. */
#ifndef ADAPT_DATA_TEXT_READER_H
#define ADAPT_DATA_TEXT_READER_H
#include "adapt.h"

typedef struct text_reader text_reader;

/* max_line == 0 means DATA_MAX_LINE_BYTES (1 MiB). */
adapt_status text_reader_open(const char *path, size_t max_line, text_reader **out);
void text_reader_close(text_reader *r);

/* The next line, without its "\n" / "\r\n", NUL-terminated. The pointer is valid until the next
 * call, and the caller may modify those bytes in place (e.g. split at tabs). At end of file *line
 * is set to NULL (and ADAPT_OK returned). */
adapt_status text_reader_next(text_reader *r, const char **line, size_t *len);

/* The next blank-line-separated document: its lines joined by "\n" (leading blank lines are
 * skipped; a line of only spaces/tabs counts as blank). *doc is NULL at end of file; otherwise it
 * is valid until the next call. Documents longer than max_doc bytes (0: 64 MiB) are an error. */
adapt_status text_reader_next_document(text_reader *r, size_t max_doc, const char **doc, size_t *len);

/* Starts over from the first line (for another epoch). */
adapt_status text_reader_rewind(text_reader *r);

/* Number of the line last returned (1-based; 0 before the first). */
size_t text_reader_line_number(const text_reader *r);
const char *text_reader_path(const text_reader *r);
bool text_reader_is_xz(const text_reader *r);
/* Bytes of the file consumed so far and the file's size (compressed bytes for xz): progress. */
uint64_t text_reader_bytes_consumed(const text_reader *r);
uint64_t text_reader_file_size(const text_reader *r);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF); otherwise *bad_at is the offset of the first bad byte. */
bool utf8_is_valid(const char *s, size_t len, size_t *bad_at);

#endif
