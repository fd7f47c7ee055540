/* WordPiece: greedy longest match from the left; a word with any unmatchable part (or longer
 * than max_input_chars_per_word chars) becomes one unknown token. */
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

void wordpiece_tokenize(const model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out)
{
    (void)len;
    size_t first = out->n;
    if ((long)nchars <= m->max_input_chars) {
        size_t plen = strlen(m->prefix);
        char stack_buf[256];
        char *buf = stack_buf; size_t cap = sizeof stack_buf;
        size_t start = 0;
        bool ok = true;
        while (start < nchars) {
            size_t end = nchars;
            int32_t id = -1;
            while (start < end) {
                size_t sb = char_at[start], eb = char_at[end];
                size_t pl = start > 0 ? plen : 0, need = pl + (eb - sb);
                if (need > cap) {
                    cap = need * 2;
                    buf = buf == stack_buf ? memcpy(tk_alloc(cap), stack_buf, 0) : tk_realloc(buf, cap);
                }
                memcpy(buf, m->prefix, pl);
                memcpy(buf + pl, text + sb, eb - sb);
                if (strmap_get(&m->vocab, buf, need, &id)) break;
                id = -1;
                end--;
            }
            if (id < 0) { ok = false; break; }
            model_out_push(out, id, (int32_t)start, (int32_t)end, m->id_to_token[id], strlen(m->id_to_token[id]));
            start = end;
        }
        if (buf != stack_buf) free(buf);
        if (ok) return;
    }
    out->n = first;
    if (m->unk_id >= 0) model_out_push(out, m->unk_id, 0, (int32_t)nchars, m->unk_token, strlen(m->unk_token));
}
