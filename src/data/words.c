#include "data/words.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ASCII punctuation splits words; apostrophes stay inside them (Quechua writes p'unchaw), and an
 * initial keeps its full stop ("Augusto B. Leguía"), as the NER data writes it (WikiANN's "S."). */
static int is_split_punct(unsigned char c) { return c < 128 && ispunct(c) && c != '\'' && c != '-'; }

char **split_words(const char *s, size_t *n)
{
    size_t cap = 16, count = 0;
    char **w = malloc(cap * sizeof *w);
    if (!w) return NULL;
    for (const char *p = s; *p;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *start = p;
        if (is_split_punct((unsigned char)*p)) p++;
        else
            while (*p && !isspace((unsigned char)*p) && !is_split_punct((unsigned char)*p)) p++;
        if (p - start == 1 && isupper((unsigned char)*start) && *p == '.') p++;
        if (count == cap) {
            char **nw = realloc(w, 2 * cap * sizeof *w);
            if (!nw) {
                free_words(w, count);
                return NULL;
            }
            w = nw;
            cap *= 2;
        }
        w[count] = strndup(start, (size_t)(p - start));
        if (!w[count]) {
            free_words(w, count);
            return NULL;
        }
        count++;
    }
    *n = count;
    return w;
}

void free_words(char **w, size_t n)
{
    for (size_t i = 0; i < n; i++) free(w[i]);
    free(w);
}
