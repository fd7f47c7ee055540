/* adapt tokenize / detokenize / tokenizer train — JSON lines in, JSON lines out. */
#include "adapt.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/clock.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct obuf { char *p; size_t n, cap; } obuf;
static void ob_add(obuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { fprintf(stderr, "adapt: out of memory\n"); exit(1); }
        b->p = q; b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void ob_str(obuf *b, const char *s) { ob_add(b, s, strlen(s)); }
static void ob_int(obuf *b, long v) { char t[24]; int k = snprintf(t, sizeof t, "%ld", v); ob_add(b, t, (size_t)k); }

/* A JSON string as Python's json.dumps(ensure_ascii=False) writes it. */
static void ob_json_string(obuf *b, const char *s, size_t len)
{
    ob_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ob_add(b, "\\\"", 2); break;
        case '\\': ob_add(b, "\\\\", 2); break;
        case '\n': ob_add(b, "\\n", 2); break;
        case '\r': ob_add(b, "\\r", 2); break;
        case '\t': ob_add(b, "\\t", 2); break;
        case '\b': ob_add(b, "\\b", 2); break;
        case '\f': ob_add(b, "\\f", 2); break;
        default:
            if (c < 0x20) { char t[8]; snprintf(t, sizeof t, "\\u%04x", c); ob_add(b, t, 6); }
            else ob_add(b, (const char *)&c, 1);
        }
    }
    ob_add(b, "\"", 1);
}

/* Lossy UTF-8 for echoing the input text: invalid bytes become U+FFFD. */
static void ob_json_text(obuf *b, const char *s, size_t len)
{
    obuf t = {0};
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        bool ok = n && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && n == 3) { unsigned char d = (unsigned char)s[i + 1]; ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d > 0x9F); }
        if (ok && n == 4) { unsigned char d = (unsigned char)s[i + 1]; ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d > 0x8F); }
        if (ok) { ob_add(&t, s + i, n); i += n; }
        else { ob_add(&t, "\xEF\xBF\xBD", 3); i++; }
    }
    ob_json_string(b, t.p ? t.p : "", t.n);
    free(t.p);
}


/* ---- a small reader for the input lines: cJSON cannot hold strings with U+0000, texts can. */
typedef obuf jstr;
static void js_add(jstr *s, const char *b, size_t n) { ob_add(s, b, n); }
static const char *skip_ws(const char *p, const char *e) { while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++; return p; }
static int hex4(const char *p, const char *e, unsigned *v)
{
    if (e - p < 4) return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') *v |= (unsigned)((c | 0x20) - 'a' + 10);
        else return 0;
    }
    return 1;
}
static void put_utf8(jstr *s, unsigned c)
{
    char u[4]; size_t n;
    if (c < 0x80) { u[0] = (char)c; n = 1; }
    else if (c < 0x800) { u[0] = (char)(0xC0 | (c >> 6)); u[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) { u[0] = (char)(0xE0 | (c >> 12)); u[1] = (char)(0x80 | ((c >> 6) & 0x3F)); u[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
    else { u[0] = (char)(0xF0 | (c >> 18)); u[1] = (char)(0x80 | ((c >> 12) & 0x3F)); u[2] = (char)(0x80 | ((c >> 6) & 0x3F)); u[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
    js_add(s, u, n);
}
/* Parses a JSON string at *pp into s (bytes, length explicit). Lone surrogates become U+FFFD,
 * as Python's json would give a str that Rust could not hold. */
static int parse_jstring(const char **pp, const char *e, jstr *s)
{
    const char *p = *pp;
    s->n = 0;
    if (p >= e || *p != '"') return 0;
    p++;
    while (p < e && *p != '"') {
        if (*p != '\\') { js_add(s, p, 1); p++; continue; }
        if (++p >= e) return 0;
        char c = *p++;
        switch (c) {
        case '"': js_add(s, "\"", 1); break;
        case '\\': js_add(s, "\\", 1); break;
        case '/': js_add(s, "/", 1); break;
        case 'b': js_add(s, "\b", 1); break;
        case 'f': js_add(s, "\f", 1); break;
        case 'n': js_add(s, "\n", 1); break;
        case 'r': js_add(s, "\r", 1); break;
        case 't': js_add(s, "\t", 1); break;
        case 'u': {
            unsigned v, w;
            if (!hex4(p, e, &v)) return 0;
            p += 4;
            if (v >= 0xD800 && v <= 0xDBFF && e - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, e, &w) && w >= 0xDC00 && w <= 0xDFFF) {
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
                p += 6;
            } else if (v >= 0xD800 && v <= 0xDFFF) v = 0xFFFD;
            put_utf8(s, v);
            break;
        }
        default: return 0;
        }
    }
    if (p >= e) return 0;
    *pp = p + 1;
    js_add(s, "", 0);
    return 1;
}
/* A line: "text" or {"text": "...", "text_pair": "..." | null, ...other string/null keys}. */
static int parse_input(const char *line, size_t len, jstr *text, jstr *pair, bool *has_pair)
{
    const char *p = skip_ws(line, line + len), *e = line + len;
    *has_pair = false;
    if (p < e && *p == '"') { if (!parse_jstring(&p, e, text)) return 0; return skip_ws(p, e) == e; }
    if (p >= e || *p != '{') return 0;
    p = skip_ws(p + 1, e);
    bool have_text = false;
    jstr key = {0};
    int ok = 0;
    if (p < e && *p == '}') goto done;
    for (;;) {
        if (!parse_jstring(&p, e, &key)) goto done;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') goto done;
        p = skip_ws(p + 1, e);
        bool is_text = key.n == 4 && !memcmp(key.p, "text", 4), is_pair = key.n == 9 && !memcmp(key.p, "text_pair", 9);
        if (e - p >= 4 && !memcmp(p, "null", 4)) p += 4;
        else {
            jstr tmp = {0};
            jstr *dst = is_text ? text : is_pair ? pair : &tmp;
            int r = parse_jstring(&p, e, dst);
            free(tmp.p);
            if (!r) goto done;
            if (is_text) have_text = true;
            if (is_pair) *has_pair = true;
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') { p = skip_ws(p + 1, e); continue; }
        if (p < e && *p == '}') { p++; break; }
        goto done;
    }
    ok = have_text && skip_ws(p, e) == e;
done:
    free(key.p);
    return ok;
}

static void write_encoding(obuf *b, const char *text, size_t len, const char *pair, size_t pair_len, const adapt_encoding *e)
{
    ob_str(b, "{\"text\":");
    ob_json_text(b, text, len);
    if (pair) { ob_str(b, ",\"text_pair\":"); ob_json_text(b, pair, pair_len); }
    ob_str(b, ",\"ids\":[");
    for (size_t i = 0; i < e->length; i++) { if (i) ob_add(b, ",", 1); ob_int(b, e->ids[i]); }
    ob_str(b, "],\"tokens\":[");
    for (size_t i = 0; i < e->length; i++) { if (i) ob_add(b, ",", 1); ob_json_string(b, e->tokens[i], e->token_lengths[i]); }
    ob_str(b, "],\"offsets\":[");
    for (size_t i = 0; i < e->length; i++) {
        if (i) ob_add(b, ",", 1);
        ob_add(b, "[", 1); ob_int(b, e->offsets[i][0]); ob_add(b, ",", 1); ob_int(b, e->offsets[i][1]); ob_add(b, "]", 1);
    }
    ob_str(b, "],\"type_ids\":[");
    for (size_t i = 0; i < e->length; i++) { if (i) ob_add(b, ",", 1); ob_int(b, e->type_ids[i]); }
    ob_str(b, "],\"special_tokens_mask\":[");
    for (size_t i = 0; i < e->length; i++) { if (i) ob_add(b, ",", 1); ob_int(b, e->special_tokens_mask[i]); }
    ob_str(b, "],\"word_ids\":[");
    for (size_t i = 0; i < e->length; i++) {
        if (i) ob_add(b, ",", 1);
        if (e->word_ids[i] < 0) ob_str(b, "null"); else ob_int(b, e->word_ids[i]);
    }
    ob_str(b, "]}\n");
}

static int usage_tokenize(FILE *fp, int rc)
{
    fprintf(fp,
        "usage: adapt tokenize TOKENIZER [options] < input.jsonl\n"
        "  TOKENIZER   tokenizer.json, a folder holding one, a BERT vocab.txt or a SentencePiece .model\n"
        "  input: one JSON value per line, a string or {\"text\": ..., \"text_pair\": ...}\n"
        "  output: one JSON object per line: text, [text_pair,] ids, tokens, offsets (code points),\n"
        "          type_ids, special_tokens_mask, word_ids\n"
        "options:\n"
        "  --no-special-tokens      do not add [CLS]/<s>... around the sequences\n"
        "  --max-length N           truncate to N tokens (longest first); --truncate-left from the left\n"
        "  --pad-to N               pad every encoding to N tokens\n"
        "  --lines                  read raw text lines instead of JSON (benchmarks)\n"
        "  --quiet                  print only a summary (lines, tokens, MB/s) on stderr\n");
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    bool special = true, left = false, raw = false, quiet = false;
    long max_len = 0, pad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage_tokenize(stdout, 0);
        else if (!strcmp(argv[i], "--no-special-tokens")) special = false;
        else if (!strcmp(argv[i], "--truncate-left")) left = true;
        else if (!strcmp(argv[i], "--lines")) raw = true;
        else if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (!strcmp(argv[i], "--max-length")) { if (!arg_long("tokenize", argv[i], i + 1 < argc ? argv[i + 1] : NULL, 0, 1L << 24, &max_len)) return 2; i++; }
        else if (!strcmp(argv[i], "--pad-to")) { if (!arg_long("tokenize", argv[i], i + 1 < argc ? argv[i + 1] : NULL, 0, 1L << 24, &pad)) return 2; i++; }
        else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "adapt tokenize: %s %s\n", argv[i][0] == '-' ? "unknown option" : "a second tokenizer:", argv[i]);
            return usage_tokenize(stderr, 2);
        }
        else path = argv[i];
    }
    if (!path || max_len < 0 || pad < 0) return usage_tokenize(stderr, 2);
    adapt_tokenizer *tok;
    if (adapt_tokenizer_load(path, &tok)) return cli_report_error("tokenize");
    if (max_len) adapt_tokenizer_set_truncation(tok, (size_t)max_len, ADAPT_TRUNCATE_LONGEST_FIRST, left);
    if (pad) {
        const char *pt = adapt_tokenizer_id_to_token(tok, 0);
        int32_t pid = adapt_tokenizer_token_to_id(tok, "[PAD]");
        if (pid < 0) pid = adapt_tokenizer_token_to_id(tok, "<pad>");
        if (pid >= 0) pt = adapt_tokenizer_id_to_token(tok, pid);
        adapt_tokenizer_set_padding(tok, true, (size_t)pad, 0, false, pid < 0 ? 0 : pid, 0, pt ? pt : "[PAD]");
    }
    char *line = NULL; size_t cap = 0; ssize_t got;
    obuf out = {0};
    size_t lineno = 0, n_tokens = 0, n_bytes = 0;
    jstr jtext = {0}, jpair = {0};
    int rc = 0;
    double t0 = monotonic_seconds();
    while ((got = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') line[--len] = 0;
        const char *text = line, *pair = NULL;
        size_t tlen = len, plen = 0;
        if (!raw) {
            bool has_pair;
            if (strspn(line, " \t\r") == len) continue;
            if (!parse_input(line, len, &jtext, &jpair, &has_pair)) {
                fprintf(stderr, "adapt tokenize: stdin line %zu: expected a JSON string or {\"text\": string, \"text_pair\": string}\n", lineno);
                rc = 1;
                break;
            }
            text = jtext.p; tlen = jtext.n;
            if (has_pair) { pair = jpair.p; plen = jpair.n; }
        }
        adapt_encoding e;
        if (adapt_tokenizer_encode(tok, text, tlen, pair, plen, special, &e)) {
            rc = cli_report_error("tokenize");
            break;
        }
        n_tokens += e.length; n_bytes += tlen + plen;
        if (!quiet) {
            out.n = 0;
            write_encoding(&out, text, tlen, pair, plen, &e);
            fwrite(out.p, 1, out.n, stdout);
        }
        adapt_encoding_free(&e);
    }
    double dt = monotonic_seconds() - t0;
    if (quiet) fprintf(stderr, "lines %zu tokens %zu bytes %zu seconds %.3f MB/s %.2f\n", lineno, n_tokens, n_bytes, dt, dt > 0 ? n_bytes / 1e6 / dt : 0.0);
    free(out.p); free(line); free(jtext.p); free(jpair.p);
    adapt_tokenizer_free(tok);
    if (fflush(stdout)) { fprintf(stderr, "adapt tokenize: cannot write output\n"); return 1; }
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *path = NULL;
    bool skip = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: adapt detokenize TOKENIZER [--keep-special-tokens] < ids.jsonl\n"
                   "  input: one JSON array of token ids per line; output: one JSON string per line\n");
            return 0;
        } else if (!strcmp(argv[i], "--keep-special-tokens")) skip = false;
        else if (argv[i][0] == '-' || path) { fprintf(stderr, "usage: adapt detokenize TOKENIZER [--keep-special-tokens]\n"); return 2; }
        else path = argv[i];
    }
    if (!path) { fprintf(stderr, "usage: adapt detokenize TOKENIZER [--keep-special-tokens]\n"); return 2; }
    adapt_tokenizer *tok;
    if (adapt_tokenizer_load(path, &tok)) return cli_report_error("detokenize");
    char *line = NULL; size_t cap = 0; ssize_t got;
    size_t lineno = 0;
    int rc = 0;
    obuf out = {0};
    while ((got = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)got);
        if (!j && strspn(line, " \t\r\n") == (size_t)got) continue;
        int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
        int32_t *ids = malloc(((size_t)(n > 0 ? n : 1)) * sizeof *ids);
        bool ok = n >= 0 && ids;
        for (int i = 0; ok && i < n; i++) {
            const cJSON *v = cJSON_GetArrayItem(j, i);
            ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 2147483647.0;
            if (ok) ids[i] = (int32_t)v->valuedouble;
        }
        cJSON_Delete(j);
        if (!ok) {
            fprintf(stderr, "adapt detokenize: stdin line %zu: expected a JSON array of non-negative integer ids\n", lineno);
            free(ids); rc = 1; break;
        }
        char *text;
        if (adapt_tokenizer_decode(tok, ids, (size_t)n, skip, &text)) { free(ids); rc = cli_report_error("detokenize"); break; }
        out.n = 0;
        ob_json_string(&out, text, strlen(text));
        ob_add(&out, "\n", 1);
        fwrite(out.p, 1, out.n, stdout);
        free(text); free(ids);
    }
    free(line); free(out.p);
    adapt_tokenizer_free(tok);
    return rc;
}

static int usage_train(FILE *fp, int rc)
{
    fprintf(fp,
        "usage: adapt tokenizer train --type bpe|wordpiece --vocab-size N [--output DIR]\n"
        "                             [--min-frequency N] [--lowercase] FILES...\n"
        "  FILES: UTF-8 text, plain or .xz. Writes DIR/tokenizer.json (DIR defaults to \".\").\n"
        "  bpe: RoBERTa-style byte-level BPE (<s> <pad> </s> <unk> <mask>);\n"
        "  wordpiece: BERT-style WordPiece ([PAD] [UNK] [CLS] [SEP] [MASK]; --lowercase for uncased).\n");
    return rc;
}

int cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "train")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return usage_train(stdout, 0);
        return usage_train(stderr, 2);
    }
    adapt_tokenizer_train_options opt = {0};
    const char *outdir = ".";
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nf = 0;
    long vocab = 0, minf = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { free(files); return usage_train(stdout, 0); }
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) opt.type = argv[++i];
        else if (!strcmp(argv[i], "--vocab-size") || !strcmp(argv[i], "--min-frequency")) {
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            bool ok = !strcmp(argv[i], "--vocab-size") ? arg_long("tokenizer train", argv[i], v, 1, 16777215, &vocab)
                                                       : arg_long("tokenizer train", argv[i], v, 0, 1000000000, &minf);
            if (!ok) {
                free(files);
                return 2;
            }
            i++;
        }
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) outdir = argv[++i];
        else if (!strcmp(argv[i], "--lowercase")) opt.lowercase = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "adapt tokenizer train: unknown option %s (or it needs a value)\n", argv[i]);
            free(files);
            return usage_train(stderr, 2);
        }
        else files[nf++] = argv[i];
    }
    if (!opt.type || vocab <= 0 || minf < 0 || !nf) { free(files); return usage_train(stderr, 2); }
    opt.vocab_size = (size_t)vocab;
    opt.min_frequency = (size_t)minf;
    mkdir(outdir, 0777);
    size_t plen = strlen(outdir) + 32;
    char *out = malloc(plen);
    snprintf(out, plen, "%s/tokenizer.json", outdir);
    int rc = 0;
    if (adapt_tokenizer_train(&opt, files, nf, out)) rc = cli_report_error("tokenizer train");
    else fprintf(stderr, "adapt tokenizer train: wrote %s\n", out);
    free(out); free(files);
    return rc;
}
