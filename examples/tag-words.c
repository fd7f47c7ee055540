/* A program that uses libadapt through adapt.h alone (the build compiles it without -Isrc):
 * tags the words of each line of standard input with a model, adapters and a composition, as
 * `adapt demo quechua-ner` does, and prints word/TAG pairs.
 *
 *   build/examples/tag-words MODEL_DIR COMPOSITION ADAPTER_DIR... < sentences.txt
 *   build/examples/tag-words models/default "Stack(qu, ner)" models/adapters/en models/adapters/qu models/adapters/ner
 */
#include "adapt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 256

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL_DIR COMPOSITION ADAPTER_DIR... < sentences.txt\n", argv[0]);
        return 2;
    }
    adapt_tagger_options options = {.model_dir = argv[1], .setup = argv[2],
                                    .adapters = (const char *const *)argv + 3, .n_adapters = argc - 3};
    adapt_tagger *tagger;
    if (adapt_tagger_open(&options, &tagger) != ADAPT_OK) {
        fprintf(stderr, "tag-words: %s\n", adapt_error());
        return 1;
    }
    char line[8192];
    int status = 0;
    while (!status && fgets(line, sizeof line, stdin)) {
        const char *words[MAX_WORDS];
        size_t n = 0;
        for (char *w = strtok(line, " \t\r\n"); w && n < MAX_WORDS; w = strtok(NULL, " \t\r\n")) words[n++] = w;
        if (!n) continue;
        int32_t tags[MAX_WORDS];
        const char *const *sentence[] = {words};
        int32_t *tag_rows[] = {tags};
        if (adapt_tagger_tag(tagger, 1, sentence, &n, tag_rows, NULL) != ADAPT_OK) {
            fprintf(stderr, "tag-words: %s\n", adapt_error());
            status = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) printf("%s/%s%s", words[i], adapt_tagger_label(tagger, tags[i]), i + 1 < n ? " " : "\n");
    }
    adapt_tagger_free(tagger);
    return status;
}
