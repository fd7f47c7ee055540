/* Unicode normalization forms with alignment tracking. The string is cut into chunks that start at
 * a character no composition can reach back across (a starter that is no mark and no Hangul
 * vowel/trailing jamo); each chunk is normalized by utf8proc, and its output chars replace the
 * input chars one by one: extra output chars count as insertions, missing ones as removals
 * (the alignment HF's unicode-normalization-alignments produces for the usual cases). */
#include "tokenize/tokenizer.h"
#include "tokenize/uchar.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_CHUNK 64   /* longer runs of combining marks are cut (only hostile text has them) */

static bool is_boundary(uint32_t c)
{
    if (c < 0x300) return true;
    if (c >= 0x1161 && c <= 0x11C2) return false; /* Hangul V and T jamo compose with what precedes */
    if (uc_is_mark(c)) return false;
    return utf8proc_get_property((utf8proc_int32_t)c)->combining_class == 0;
}

static int ccc(utf8proc_int32_t c) { return utf8proc_get_property(c)->combining_class; }

void nstr_unicode_normalize(nstr *s, bool compat, bool compose)
{
    size_t i = 0;
    while (i < s->n && s->c[i] < 0x80) i++;
    if (i == s->n) return; /* ASCII is invariant under every form */
    nbuild b;
    nb_begin(&b, s);
    for (size_t k = 0; k < i; k++) nb_keep(&b, s->c[k]);
    utf8proc_int32_t buf[MAX_CHUNK * 20];
    unsigned char chg[MAX_CHUNK * 20];
    utf8proc_option_t dopt = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
    while (i < s->n) {
        size_t j = i + 1;
        while (j < s->n && j - i < MAX_CHUNK && !is_boundary(s->c[j])) j++;
        if (j == i + 1 && s->c[i] < 0x80) { nb_keep(&b, s->c[i]); i = j; continue; }
        /* decompose char by char: the first output char replaces the input char, the others
         * are insertions (unicode-normalization-alignments' changes) */
        utf8proc_ssize_t m = 0;
        for (size_t k = i; k < j; k++) {
            uint32_t c = s->c[k];
            utf8proc_ssize_t r = -1, room = (utf8proc_ssize_t)(sizeof buf / sizeof *buf) - m;
            if (c < 0x110000 && !(c >= 0xD800 && c <= 0xDFFF))
                r = utf8proc_decompose_char((utf8proc_int32_t)c, buf + m, room, dopt, NULL);
            if (r < 1 || r > room) { buf[m] = (utf8proc_int32_t)c; r = 1; }
            for (utf8proc_ssize_t x = 0; x < r; x++) chg[m + x] = x > 0;
            m += r;
        }
        /* canonical ordering: stable sort of each run of non-starters by combining class;
         * the changes travel with their chars */
        for (utf8proc_ssize_t x = 1; x < m; x++) {
            int cx = ccc(buf[x]);
            if (!cx) continue;
            utf8proc_ssize_t y = x;
            utf8proc_int32_t v = buf[x];
            unsigned char cv = chg[x];
            while (y > 0 && ccc(buf[y - 1]) > cx) { buf[y] = buf[y - 1]; chg[y] = chg[y - 1]; y--; }
            buf[y] = v; chg[y] = cv;
        }
        size_t k_in = j - i;
        if (compose) {
            utf8proc_int32_t tmp[sizeof buf / sizeof *buf];
            memcpy(tmp, buf, (size_t)m * sizeof *buf);
            utf8proc_ssize_t m2 = utf8proc_normalize_utf32(tmp, m, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
            if (m2 >= 0 && m2 != m) {
                /* something composed: output chars replace input chars in order, extra ones
                 * are insertions, missing ones removals */
                for (utf8proc_ssize_t x = 0; x < m2; x++) {
                    if ((size_t)x < k_in) nb_keep(&b, (uint32_t)tmp[x]);
                    else nb_insert(&b, (uint32_t)tmp[x]);
                }
                if ((size_t)m2 < k_in) nb_skip(&b, k_in - (size_t)m2);
                i = j;
                continue;
            }
        }
        for (utf8proc_ssize_t x = 0; x < m; x++) {
            if (chg[x]) nb_insert(&b, (uint32_t)buf[x]);
            else nb_keep(&b, (uint32_t)buf[x]);
        }
        i = j;
    }
    nb_finish(&b, s);
}
