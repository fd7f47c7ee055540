#include "data/text_reader.h"
#include "data/dataset.h"
#include "core/error.h"
#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IN_CHUNK   ((size_t)1 << 16)    /* compressed bytes read per fread */
#define BUF_START  ((size_t)1 << 18)    /* initial decoded-text window */
#define DOC_DEFAULT_MAX ((size_t)64 << 20)
/* xz files made with the usual presets need well under 100 MiB to decode; a larger demand means
 * a hostile or broken header. */
#define XZ_MEMLIMIT ((uint64_t)1 << 30)

struct text_reader {
    char *path;
    FILE *fp;
    uint64_t file_size, consumed;
    bool xz;
    lzma_stream lz;
    unsigned char *in;           /* compressed input (xz only) */
    bool in_eof;                 /* fread hit end of file */
    bool data_eof;               /* no more decoded bytes will come */
    /* Decoded text window: bytes [pos, end) are not yet returned; scan marks how far the window
     * is already known to hold no "\n", so a long line is not searched twice. */
    char *buf;
    size_t cap, pos, end, scan;
    size_t max_line;
    size_t line_no;
    bool at_start;
    char *doc;                   /* document buffer for text_reader_next_document */
    size_t doc_cap;
};

/* ------------------------------------------------------------------ UTF-8 */

bool utf8_is_valid(const char *str, size_t len, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, eight bytes at a time. */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
        }
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;      /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else { *bad_at = i; return false; }
        if (len - i <= n) { *bad_at = i; return false; }
        if (s[i + 1] < lo || s[i + 1] > hi) { *bad_at = i; return false; }
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) { *bad_at = i; return false; }
        i += n + 1;
    }
    return true;
}

/* ------------------------------------------------------------------ open / close */

static adapt_status start_decoder(text_reader *r)
{
    lzma_stream init = LZMA_STREAM_INIT;
    r->lz = init;
    lzma_ret ret = lzma_stream_decoder(&r->lz, XZ_MEMLIMIT, LZMA_CONCATENATED);
    if (ret != LZMA_OK) return adapt_fail(ADAPT_ERR_NOMEM, "%s: cannot start the xz decoder (liblzma error %d)", r->path, (int)ret);
    return ADAPT_OK;
}

/* Looks at the first bytes: xz is decoded, other compressors are refused, the rest is text. */
static adapt_status detect_format(text_reader *r)
{
    unsigned char magic[6] = {0};
    size_t got = fread(magic, 1, sizeof magic, r->fp);
    if (ferror(r->fp)) return adapt_fail(ADAPT_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
    static const unsigned char xz_magic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
    r->xz = got == 6 && memcmp(magic, xz_magic, 6) == 0;
    if (!r->xz) {
        if (got >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: gzip-compressed; only plain text and xz are supported", r->path);
        if (got >= 3 && memcmp(magic, "BZh", 3) == 0)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: bzip2-compressed; only plain text and xz are supported", r->path);
        if (got >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: zstd-compressed; only plain text and xz are supported", r->path);
        size_t plen = strlen(r->path);
        if (plen >= 3 && strcmp(r->path + plen - 3, ".xz") == 0)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: named .xz but does not start with the xz magic bytes", r->path);
    }
    if (fseek(r->fp, 0, SEEK_SET) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot seek: %s", r->path, strerror(errno));
    if (r->xz) TRY(start_decoder(r));
    return ADAPT_OK;
}

adapt_status text_reader_open(const char *path, size_t max_line, text_reader **out)
{
    *out = NULL;
    text_reader *r = calloc(1, sizeof *r);
    if (!r) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    r->max_line = max_line ? max_line : DATA_MAX_LINE_BYTES;
    r->at_start = true;
    r->path = strdup(path);
    r->cap = r->max_line + 3 < BUF_START ? r->max_line + 3 : BUF_START;
    r->buf = malloc(r->cap);
    if (!r->path || !r->buf) {
        text_reader_close(r);
        return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    }
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        adapt_status st = adapt_fail(ADAPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        text_reader_close(r);
        return st;
    }
    struct stat sb;
    if (fstat(fileno(r->fp), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            text_reader_close(r);
            return adapt_fail(ADAPT_ERR_IO, "%s: is a directory", path);
        }
        r->file_size = (uint64_t)sb.st_size;
    }
    adapt_status st = detect_format(r);
    if (st == ADAPT_OK && r->xz && !(r->in = malloc(IN_CHUNK))) st = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    if (st != ADAPT_OK) {
        text_reader_close(r);
        return st;
    }
    *out = r;
    return ADAPT_OK;
}

void text_reader_close(text_reader *r)
{
    if (!r) return;
    if (r->xz) lzma_end(&r->lz);
    if (r->fp) fclose(r->fp);
    free(r->in);
    free(r->buf);
    free(r->doc);
    free(r->path);
    free(r);
}

adapt_status text_reader_rewind(text_reader *r)
{
    if (fseek(r->fp, 0, SEEK_SET) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot seek: %s", r->path, strerror(errno));
    clearerr(r->fp);
    if (r->xz) {
        lzma_end(&r->lz);
        TRY(start_decoder(r));
    }
    r->consumed = 0;
    r->in_eof = r->data_eof = false;
    r->pos = r->end = r->scan = 0;
    r->line_no = 0;
    r->at_start = true;
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ filling the window */

static adapt_status read_raw(text_reader *r, void *dst, size_t want, size_t *got)
{
    *got = fread(dst, 1, want, r->fp);
    if (*got < want) {
        if (ferror(r->fp)) return adapt_fail(ADAPT_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
        r->in_eof = true;
    }
    r->consumed += *got;
    return ADAPT_OK;
}

static adapt_status xz_error(const text_reader *r, lzma_ret ret)
{
    switch (ret) {
    case LZMA_MEM_ERROR: return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory decoding xz", r->path);
    case LZMA_MEMLIMIT_ERROR: return adapt_fail(ADAPT_ERR_NOMEM, "%s: xz stream needs more than %llu MiB to decode", r->path, (unsigned long long)(XZ_MEMLIMIT >> 20));
    case LZMA_FORMAT_ERROR: return adapt_fail(ADAPT_ERR_FORMAT, "%s: not xz data (bad stream header)", r->path);
    case LZMA_OPTIONS_ERROR: return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: xz stream uses unsupported options", r->path);
    case LZMA_BUF_ERROR: return adapt_fail(ADAPT_ERR_FORMAT, "%s: xz data is truncated (file ends inside a stream)", r->path);
    default: return adapt_fail(ADAPT_ERR_FORMAT, "%s: corrupt xz data (liblzma error %d, after %llu compressed bytes)", r->path, (int)ret, (unsigned long long)r->consumed);
    }
}

/* Decodes into dst until at least one byte is produced or the stream ends. */
static adapt_status read_xz(text_reader *r, unsigned char *dst, size_t room, size_t *got)
{
    r->lz.next_out = dst;
    r->lz.avail_out = room;
    while (r->lz.avail_out == room) {
        if (r->lz.avail_in == 0 && !r->in_eof) {
            size_t n;
            TRY(read_raw(r, r->in, IN_CHUNK, &n));
            r->lz.next_in = r->in;
            r->lz.avail_in = n;
        }
        size_t before_in = r->lz.avail_in;
        lzma_ret ret = lzma_code(&r->lz, r->in_eof ? LZMA_FINISH : LZMA_RUN);
        if (ret == LZMA_STREAM_END) { r->data_eof = true; break; }
        if (ret != LZMA_OK) return xz_error(r, ret);
        /* At end of input with nothing consumed or produced, the stream can never finish. */
        if (r->in_eof && r->lz.avail_in == before_in && r->lz.avail_out == room) return xz_error(r, LZMA_BUF_ERROR);
    }
    *got = room - r->lz.avail_out;
    return ADAPT_OK;
}

/* Makes room at the end of the window (moving the unread part to the front, or growing up to the
 * line bound) and reads more decoded bytes into it. One byte is always kept for a NUL. */
static adapt_status fill(text_reader *r)
{
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->scan -= r->pos;
        r->pos = 0;
    }
    if (r->end + 1 >= r->cap) {
        size_t limit = r->max_line + 3;   /* the longest line, "\r\n" and a NUL */
        if (r->cap >= limit)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: line longer than %zu bytes", r->path, r->line_no + 1, r->max_line);
        size_t cap = r->cap * 2 < limit ? r->cap * 2 : limit;
        char *buf = realloc(r->buf, cap);
        if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory for a long line", r->path, r->line_no + 1);
        r->buf = buf;
        r->cap = cap;
    }
    size_t room = r->cap - 1 - r->end, got = 0;
    if (r->xz) TRY(read_xz(r, (unsigned char *)r->buf + r->end, room, &got));
    else {
        TRY(read_raw(r, r->buf + r->end, room, &got));
        if (r->in_eof) r->data_eof = true;
    }
    r->end += got;
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ lines */

static adapt_status check_line(text_reader *r, char *line, size_t *len)
{
    if (r->at_start) {
        r->at_start = false;
        if (*len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            memmove(line, line + 3, *len - 3 + 1);
            *len -= 3;
        }
    }
    if (*len > 0 && line[*len - 1] == '\r') line[--*len] = 0;
    if (*len > r->max_line) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: line longer than %zu bytes", r->path, r->line_no, r->max_line);
    const char *nul = memchr(line, 0, *len);
    if (nul) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: NUL byte at column %zu (binary file?)", r->path, r->line_no, (size_t)(nul - line) + 1);
    size_t bad;
    if (!utf8_is_valid(line, *len, &bad))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", r->path, r->line_no, bad + 1);
    return ADAPT_OK;
}

adapt_status text_reader_next(text_reader *r, const char **line, size_t *len)
{
    *line = NULL;
    *len = 0;
    for (;;) {
        char *nl = r->scan < r->end ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
        if (nl) {
            char *start = r->buf + r->pos;
            size_t n = (size_t)(nl - start);
            *nl = 0;
            r->pos = r->scan = (size_t)(nl - r->buf) + 1;
            r->line_no++;
            TRY(check_line(r, start, &n));
            *line = start;
            *len = n;
            return ADAPT_OK;
        }
        r->scan = r->end;
        if (r->end - r->pos > r->max_line + 1)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: line longer than %zu bytes", r->path, r->line_no + 1, r->max_line);
        if (r->data_eof) {
            if (r->pos == r->end) return ADAPT_OK;    /* end of file */
            /* A last line without "\n"; fill() always leaves a byte for the NUL. */
            char *start = r->buf + r->pos;
            size_t n = r->end - r->pos;
            start[n] = 0;
            r->pos = r->scan = r->end;
            r->line_no++;
            TRY(check_line(r, start, &n));
            *line = start;
            *len = n;
            return ADAPT_OK;
        }
        TRY(fill(r));
    }
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

adapt_status text_reader_next_document(text_reader *r, size_t max_doc, const char **doc, size_t *len)
{
    if (!max_doc) max_doc = DOC_DEFAULT_MAX;
    *doc = NULL;
    *len = 0;
    size_t used = 0;
    bool any = false;
    for (;;) {
        const char *line;
        size_t n;
        TRY(text_reader_next(r, &line, &n));
        if (!line || is_blank(line, n)) {
            if (!line || any) break;
            continue;                       /* leading blank lines */
        }
        size_t need = used + (any ? 1 : 0) + n;
        if (need > max_doc)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: document longer than %zu bytes", r->path, r->line_no, max_doc);
        if (need + 1 > r->doc_cap) {
            size_t cap = r->doc_cap ? r->doc_cap : 4096;
            while (cap < need + 1) cap *= 2;
            char *d = realloc(r->doc, cap);
            if (!d) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory for a document", r->path, r->line_no);
            r->doc = d;
            r->doc_cap = cap;
        }
        if (any) r->doc[used++] = '\n';
        memcpy(r->doc + used, line, n);
        used += n;
        r->doc[used] = 0;
        any = true;
    }
    if (any) {
        *doc = r->doc;
        *len = used;
    }
    return ADAPT_OK;
}

size_t text_reader_line_number(const text_reader *r) { return r->line_no; }
const char *text_reader_path(const text_reader *r) { return r->path; }
bool text_reader_is_xz(const text_reader *r) { return r->xz; }
uint64_t text_reader_bytes_consumed(const text_reader *r) { return r->consumed; }
uint64_t text_reader_file_size(const text_reader *r) { return r->file_size; }
