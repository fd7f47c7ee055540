/* adapt demo quechua-ner — zero-shot named-entity recognition for Quechua with MAD-X: the shipped
 * English+Spanish base model, the Quechua language adapter and the NER task adapter trained on
 * English WikiANN over the English language adapter and on silver Quechua over the Quechua one:
 * Stack(qu, ner). */
#include "cli/args.h"
#include "cli/commands.h"
#include "data/words.h"
#include "core/error.h"
#include "core/fileio.h"
#include "train/predict.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt demo quechua-ner [--input FILE.conll --output OUT.conll] [--format conll|text|jsonl]\n"
                "                              [--setup STR] [--dtype fp32|bf16] [--retrain]\n"
                "  Without --input, tags the example sentences in models/demo/quechua.txt. With it, tags the\n"
                "  words of column 1 and writes word<TAB>tag, a line for each input line (blank lines kept);\n"
                "  --format text: a sentence per line instead (words split at spaces), JSON Lines by its name.\n"
                "  --setup    any composition of the shipped adapters en, es, qu, ner (default \"Stack(qu, ner)\")\n"
                "  --dtype    bf16: weight-only bf16 (frozen encoder weights stored as bf16, arithmetic in fp32)\n"
                "  --retrain  reproduce the adapters from raw data first (scripts/madx-pipeline.sh)\n");
}

/* The folder holding models/: $ADAPT_HOME, the executable's parent folder, or the current one. */
static bool find_home(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *candidates[3] = {getenv("ADAPT_HOME"), NULL, "."};
    char parent[PATH_MAX];
    if (n > 0) {
        exe[n] = 0;
        snprintf(parent, sizeof parent, "%s/..", dirname(exe));
        candidates[1] = parent;
    }
    for (int i = 0; i < 3; i++) {
        if (!candidates[i]) continue;
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/models/default/config.json", candidates[i]);
        if (path_exists(probe)) {
            snprintf(out, size, "%s", candidates[i]);
            return true;
        }
    }
    return false;
}

/* Prints each sentence with its entities: "  [PER Augusto B. Leguía]". */
static void print_tagged(char **w, size_t n, const int32_t *tags, char **labels)
{
    for (size_t i = 0; i < n; i++) printf("%s%s", i ? " " : "", w[i]);
    printf("\n");
    bool any = false;
    for (size_t i = 0; i < n;) {
        const char *tag = labels[tags[i]];
        if (!strcmp(tag, "O") || strlen(tag) < 3) {
            i++;
            continue;
        }
        const char *type = tag + 2;
        printf("%s[%s", any ? " " : "    ", type);
        size_t j = i;
        do printf(" %s", w[j++]);
        while (j < n && !strncmp(labels[tags[j]], "I-", 2) && !strcmp(labels[tags[j]] + 2, type));
        printf("]");
        any = true;
        i = j;
    }
    printf(any ? "\n\n" : "    (no entities)\n\n");
}

static adapt_status tag_examples(tagger *t, const char *path)
{
    char *text;
    size_t len;
    TRY(file_read_all(path, (size_t)1 << 20, &text, &len));
    adapt_status s = ADAPT_OK;
    for (char *line = strtok(text, "\n"); line && !s; line = strtok(NULL, "\n")) {
        size_t n = 0;
        char **w = split_words(line, &n);
        if (!w) {
            s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            break;
        }
        if (!n) {
            free_words(w, n);
            continue;
        }
        int32_t *tags = calloc(n, sizeof *tags);
        const char *const *words = (const char *const *)w;
        s = tags ? tagger_tag(t, 1, &words, &n, &tags, NULL) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) print_tagged(w, n, tags, t->labels);
        free(tags);
        free_words(w, n);
    }
    free(text);
    return s;
}

int cmd_demo(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *setup = "Stack(qu, ner)";
    bool retrain = false;
    adapt_weight_dtype dtype = ADAPT_WEIGHTS_FP32;
    data_format format = DATA_FORMAT_AUTO;
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (argc < 2 || strcmp(argv[1], "quechua-ner")) {
        if (argc >= 2 && !help) fprintf(stderr, "adapt demo: no demo \"%s\" (quechua-ner)\n", argv[1]);
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        else if (!strcmp(argv[i], "--retrain")) retrain = true;
        else if (!strcmp(argv[i], "--input") && i + 1 < argc) input = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
        else if (!strcmp(argv[i], "--setup") && i + 1 < argc) setup = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (data_format_parse(argv[++i], &format)) {
                fprintf(stderr, "adapt demo: %s\n", adapt_error());
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            if (!arg_weight_dtype("demo", argv[i], argv[i + 1], &dtype)) return 2;
            i++;
        }
        else {
            fprintf(stderr, "adapt demo: unknown option %s (or it needs a value)\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!input != !output) {
        fprintf(stderr, "adapt demo: --input and --output go together\n");
        return 2;
    }
    char home[PATH_MAX];
    if (!find_home(home, sizeof home)) {
        fprintf(stderr, "adapt demo: cannot find models/default (run from the repository or set ADAPT_HOME)\n");
        return 1;
    }
    if (retrain) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "bash '%s/scripts/madx-pipeline.sh'", home);
        fprintf(stderr, "adapt demo: retraining the adapters (%s)\n", cmd);
        if (system(cmd) != 0) {
            fprintf(stderr, "adapt demo: the pipeline failed\n");
            return 1;
        }
    }
    char model[PATH_MAX + 32], examples[PATH_MAX + 32], adapters[4][PATH_MAX + 32];
    snprintf(model, sizeof model, "%s/models/default", home);
    snprintf(examples, sizeof examples, "%s/models/demo/quechua.txt", home);
    tagger_options o = {.model_dir = model, .setup = setup, .weight_dtype = dtype};
    /* the Spanish language adapter is optional: NER does not use it, a composition may */
    static const char *const names[4] = {"en", "es", "qu", "ner"};
    for (int i = 0; i < 4; i++) {
        snprintf(adapters[i], sizeof adapters[i], "%s/models/adapters/%s", home, names[i]);
        if (strcmp(names[i], "es") || access(adapters[i], F_OK) == 0) o.adapters[o.n_adapters++] = adapters[i];
    }
    tagger t;
    if (tagger_open(&o, &t)) return cli_report_error("demo");
    fprintf(stderr, "adapt demo: setup %s on %s\n\n", setup, model);
    bool text_like = false;
    predict_options po = {.input = input, .output = output, .format = format, .input_looks_like_text = &text_like};
    adapt_status s = input ? predict_file(&t, &po) : tag_examples(&t, examples);
    tagger_close(&t);
    if (s) return cli_report_error("demo");
    if (text_like) cli_warn_text_as_conll("demo", input);
    if (output) fprintf(stderr, "adapt demo: wrote %s\n", output);
    return 0;
}
