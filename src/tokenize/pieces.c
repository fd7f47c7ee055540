/* Pre-tokenized pieces and HF's split-delimiter behaviours. */
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

void piece_list_free(piece_list *l)
{
    for (size_t i = 0; i < l->n; i++) nstr_free(&l->v[i].s);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void piece_list_push(piece_list *l, nstr *s, int32_t added_id)
{
    TK_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n].s = *s;
    l->v[l->n].added_id = added_id;
    l->n++;
    memset(s, 0, sizeof *s);
}

static void push_range(const nstr *s, size_t a, size_t e, piece_list *out)
{
    if (e <= a) return; /* HF drops empty splits */
    nstr sub;
    nstr_slice(s, a, e, &sub);
    piece_list_push(out, &sub, -1);
}

void split_by_spans(const nstr *s, const match_span *sp, size_t n, split_behavior b, piece_list *out)
{
    switch (b) {
    case SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++) if (!sp[i].is_match) push_range(s, sp[i].start, sp[i].end, out);
        return;
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) push_range(s, sp[i].start, sp[i].end, out);
        return;
    case SPLIT_MERGED_PREV: {
        /* a match joins the piece before it, unless that piece was a match too */
        size_t cur_a = 0, cur_e = 0; bool have = false, prev_match = false;
        for (size_t i = 0; i < n; i++) {
            if (sp[i].is_match && !prev_match && have) cur_e = sp[i].end;
            else {
                if (have) push_range(s, cur_a, cur_e, out);
                cur_a = sp[i].start; cur_e = sp[i].end; have = true;
            }
            prev_match = sp[i].is_match;
        }
        if (have) push_range(s, cur_a, cur_e, out);
        return;
    }
    case SPLIT_MERGED_NEXT: {
        /* walk backwards: a match joins the piece after it, unless that one was a match */
        size_t *starts = tk_alloc((n + 1) * sizeof *starts), *ends = tk_alloc((n + 1) * sizeof *ends);
        size_t k = 0; bool next_match = false;
        for (size_t i = n; i-- > 0;) {
            if (sp[i].is_match && !next_match && k) starts[k - 1] = sp[i].start;
            else { starts[k] = sp[i].start; ends[k] = sp[i].end; k++; }
            next_match = sp[i].is_match;
        }
        for (size_t i = k; i-- > 0;) push_range(s, starts[i], ends[i], out);
        free(starts); free(ends);
        return;
    }
    case SPLIT_CONTIGUOUS: {
        size_t cur_a = 0, cur_e = 0; bool have = false, prev_match = false;
        for (size_t i = 0; i < n; i++) {
            if (sp[i].is_match == prev_match && have) cur_e = sp[i].end;
            else {
                if (have) push_range(s, cur_a, cur_e, out);
                cur_a = sp[i].start; cur_e = sp[i].end; have = true;
            }
            prev_match = sp[i].is_match;
        }
        if (have) push_range(s, cur_a, cur_e, out);
        return;
    }
    }
}
