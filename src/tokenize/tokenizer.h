/* Internal API of the tokenizer pipeline, mirroring Hugging Face `tokenizers`:
 * added tokens -> normalizer -> pre-tokenizer -> model -> post-processor (-> truncation, padding).
 *
 * Text is handled as code points. Every normalized character carries the range of ORIGINAL code
 * points it came from (HF keeps the same per byte; all bytes of one char share it), so token
 * offsets come out in code points of the original text, as the Python binding reports them. */
#ifndef ADAPT_TOKENIZE_TOKENIZER_H
#define ADAPT_TOKENIZE_TOKENIZER_H
#include "adapt.h"
#include "tokenize/nstr.h"
#include "tokenize/strmap.h"
#include <cjson/cJSON.h>

/* ------------------------------------------------------------ normalizers */
typedef enum {
    NORM_BERT, NORM_PRECOMPILED, NORM_REPLACE, NORM_STRIP, NORM_STRIP_ACCENTS, NORM_LOWERCASE,
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_PREPEND, NORM_SEQUENCE
} norm_kind;

typedef struct tk_regex tk_regex; /* compiled PCRE2 pattern (regex.c) */
typedef struct precompiled precompiled;

typedef struct normalizer {
    norm_kind kind;
    bool clean_text, handle_chinese, strip_accents, lowercase; /* Bert */
    bool strip_left, strip_right;                              /* Strip */
    tk_regex *pattern;                                         /* Replace */
    uint32_t *content; size_t content_len;                     /* Replace, Prepend */
    precompiled *charsmap;                                     /* Precompiled */
    struct normalizer **children; size_t n_children;           /* Sequence */
} normalizer;

adapt_status normalizer_from_json(const cJSON *j, const char *what, int depth, normalizer **out);
void normalizer_free(normalizer *n);
/* Replaces *s with its normalized form. */
void normalizer_apply(const normalizer *n, nstr *s);

/* NFC/NFD/NFKC/NFKD with alignments (unorm.c). */
void nstr_unicode_normalize(nstr *s, bool compat, bool compose);

adapt_status precompiled_parse(const unsigned char *blob, size_t len, const char *what, precompiled **out);
void precompiled_free(precompiled *p);
void precompiled_apply(const precompiled *p, nstr *s);

/* ------------------------------------------------------------ regex */
/* `literal` escapes the pattern (HF String patterns). */
adapt_status tk_regex_compile(const char *pattern, bool literal, const char *what, tk_regex **out);
void tk_regex_free(tk_regex *r);
/* Calls on_match(start, end) in UTF-8 byte offsets for every non-overlapping match, left to right. */
typedef void (*tk_match_fn)(size_t start, size_t end, void *ctx);
void tk_regex_each(const tk_regex *r, const char *utf8, size_t len, tk_match_fn fn, void *ctx);

/* ------------------------------------------------------------ pieces (pre-tokenized splits) */
typedef struct piece {
    nstr s;
    int32_t added_id; /* id of an added token matched here (already tokenized), or -1 */
} piece;

typedef struct piece_list { piece *v; size_t n, cap; } piece_list;
void piece_list_free(piece_list *l);
void piece_list_push(piece_list *l, nstr *s, int32_t added_id); /* takes ownership of *s */

/* How a split keeps the delimiters it matched (HF SplitDelimiterBehavior). */
typedef enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } split_behavior;
/* Splits s by the match flags in is_match (one per char for char predicates; runs of 1 = one match
 * each char unless ranges given), appending the non-empty results to out. */
typedef struct match_span { size_t start, end; bool is_match; } match_span;
void split_by_spans(const nstr *s, const match_span *spans, size_t n, split_behavior b, piece_list *out);

/* ------------------------------------------------------------ pre-tokenizers */
typedef enum {
    PRE_BERT, PRE_METASPACE, PRE_BYTELEVEL, PRE_WHITESPACE, PRE_WHITESPACE_SPLIT, PRE_PUNCTUATION,
    PRE_DIGITS, PRE_SPLIT, PRE_SEQUENCE, PRE_CHAR_DELIMITER, PRE_UNICODE_SCRIPTS
} pre_kind;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

typedef struct pretokenizer {
    pre_kind kind;
    uint32_t replacement;          /* Metaspace */
    prepend_scheme prepend;        /* Metaspace */
    bool split;                    /* Metaspace */
    bool add_prefix_space, use_regex; /* ByteLevel */
    bool individual_digits;        /* Digits */
    bool invert;                   /* Split */
    split_behavior behavior;       /* Split, Punctuation */
    uint32_t delimiter;            /* CharDelimiterSplit */
    tk_regex *pattern;             /* Split, ByteLevel, Whitespace */
    struct pretokenizer **children; size_t n_children;
} pretokenizer;

adapt_status pretokenizer_from_json(const cJSON *j, const char *what, int depth, pretokenizer **out);
void pretokenizer_free(pretokenizer *p);
/* Splits every piece that has no token yet; pieces with added_id >= 0 pass through. */
void pretokenizer_apply(const pretokenizer *p, piece_list *l);
/* The byte -> char table of the GPT-2 byte-level alphabet (and its inverse, -1 where none). */
const uint32_t *bytelevel_byte_to_char(void);
int bytelevel_char_to_byte(uint32_t c);

/* ------------------------------------------------------------ models */
typedef struct model_token { int32_t id; int32_t start, end; /* chars of the piece */ const char *text; size_t len; } model_token;
typedef struct model_out { model_token *v; size_t n, cap; } model_out;
void model_out_push(model_out *o, int32_t id, int32_t start, int32_t end, const char *text, size_t len);

typedef enum { MODEL_WORDPIECE, MODEL_BPE, MODEL_UNIGRAM, MODEL_WORDLEVEL } model_kind;
typedef struct bpe_cache bpe_cache;
typedef struct byte_trie byte_trie;

typedef struct model {
    model_kind kind;
    strmap vocab;            /* token -> id */
    char **id_to_token;      /* NULL where an id is unused */
    size_t vocab_size;       /* max id + 1 */
    int32_t unk_id;          /* -1 when none */
    char *unk_token;
    char *prefix;            /* WordPiece / BPE continuing_subword_prefix ("" when none) */
    char *suffix;            /* BPE end_of_word_suffix */
    long max_input_chars;    /* WordPiece */
    bool fuse_unk, byte_fallback, ignore_merges;
    /* BPE: merge (a,b) -> rank, result */
    struct bpe_merges *merges;
    bpe_cache *cache;
    /* Unigram */
    double *scores; double min_score; byte_trie *trie;
} model;

adapt_status model_from_json(const cJSON *j, const char *what, model **out);
void model_free(model *m);
/* Tokenizes one piece (UTF-8 `text`, with byte offset of each char in char_at[0..nchars]). */
void model_tokenize(model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out);
void wordpiece_tokenize(const model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out);
void bpe_tokenize(model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out);
void unigram_tokenize(const model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out);
adapt_status bpe_load(model *m, const cJSON *j, const char *what);
adapt_status unigram_build(model *m, const char *what);
void bpe_free_parts(model *m);
void unigram_free_parts(model *m);

/* ------------------------------------------------------------ added tokens */
typedef struct added_token {
    char *content; uint32_t *cps; size_t ncp;
    int32_t id;
    bool special, lstrip, rstrip, normalized, single_word;
    uint32_t *norm_cps; size_t norm_ncp; /* content after the normalizer (normalized tokens) */
} added_token;

typedef struct added_vocab {
    added_token *v; size_t n;
    strmap by_content;   /* content -> index */
} added_vocab;

/* Splits the pieces of l (added_id < 0) on the added tokens with normalized == `normalized`;
 * matched spans become pieces carrying the token id. */
void added_split(const added_vocab *av, bool normalized, piece_list *l);
void added_vocab_free(added_vocab *av);

/* ------------------------------------------------------------ encodings under construction */
typedef struct tk_encoding {
    size_t n, cap;
    int32_t *ids, *type_ids, *word_ids, *start, *end;
    uint8_t *special, *attention;
    uint32_t *tok_off, *tok_len; /* token text in `text` */
    char *text; size_t text_len, text_cap;
} tk_encoding;
void tk_enc_free(tk_encoding *e);
void tk_enc_push(tk_encoding *e, int32_t id, const char *tok, size_t tok_len, int32_t start, int32_t end,
                 int32_t word, int32_t type_id, uint8_t special);
void tk_enc_truncate(tk_encoding *e, size_t max_len, bool left);
/* dst = a then b (copies). */
void tk_enc_append(tk_encoding *dst, const tk_encoding *src);

/* ------------------------------------------------------------ post-processors */
typedef enum { POST_BERT, POST_ROBERTA, POST_TEMPLATE, POST_BYTELEVEL, POST_SEQUENCE } post_kind;
typedef struct template_piece { bool is_special; int seq; /* 0 = A, 1 = B */ char *special_id; int32_t type_id; } template_piece;
typedef struct special_entry { char *name; int32_t *ids; char **tokens; size_t n; } special_entry;

typedef struct postprocessor {
    post_kind kind;
    char *sep_tok, *cls_tok; int32_t sep_id, cls_id;   /* Bert / Roberta */
    bool trim_offsets, add_prefix_space;               /* Roberta / ByteLevel */
    template_piece *single, *pair; size_t n_single, n_pair;
    special_entry *specials; size_t n_specials;
    struct postprocessor **children; size_t n_children;
} postprocessor;

adapt_status postprocessor_from_json(const cJSON *j, const char *what, int depth, postprocessor **out);
void postprocessor_free(postprocessor *p);
size_t postprocessor_added(const postprocessor *p, bool pair);
/* Combines a (and b if non-NULL) into out, adding special tokens when add_special. */
void postprocessor_apply(const postprocessor *p, tk_encoding *a, tk_encoding *b, bool add_special, tk_encoding *out);
void bytelevel_trim_offsets(tk_encoding *e, bool add_prefix_space);

/* ------------------------------------------------------------ decoders */
typedef enum {
    DEC_WORDPIECE, DEC_METASPACE, DEC_BYTELEVEL, DEC_BPE, DEC_REPLACE, DEC_BYTE_FALLBACK, DEC_FUSE,
    DEC_STRIP, DEC_SEQUENCE, DEC_CTC
} dec_kind;

typedef struct decoder {
    dec_kind kind;
    char *prefix;                 /* WordPiece prefix, BPE suffix */
    bool cleanup;
    uint32_t replacement; prepend_scheme prepend; /* Metaspace */
    tk_regex *pattern; char *content;  /* Replace */
    char *pad_token, *word_delimiter;  /* CTC */
    long strip_start, strip_stop; uint32_t strip_char;
    struct decoder **children; size_t n_children;
} decoder;

adapt_status decoder_from_json(const cJSON *j, const char *what, int depth, decoder **out);
void decoder_free(decoder *d);
/* tokens in, one decoded string out (malloc'd). */
char *decoder_decode(const decoder *d, char **tokens, size_t n);

/* ------------------------------------------------------------ the tokenizer */
typedef enum { TRUNC_LONGEST_FIRST, TRUNC_ONLY_FIRST, TRUNC_ONLY_SECOND } trunc_strategy;

struct adapt_tokenizer {
    added_vocab added;
    normalizer *norm;
    pretokenizer *pre;
    model *model;
    postprocessor *post;
    decoder *dec;
    bool has_truncation; size_t trunc_max; size_t trunc_stride; trunc_strategy trunc_strategy; bool trunc_left;
    bool has_padding; bool pad_fixed; size_t pad_len; size_t pad_multiple; bool pad_left;
    int32_t pad_id, pad_type_id; char *pad_token;
};

adapt_status tokenizer_from_json(const cJSON *root, const char *what, adapt_tokenizer **out);
/* Maps an id to its token string (added vocabulary first), NULL when unknown. */
const char *tokenizer_id_to_token(const adapt_tokenizer *t, int32_t id);
int32_t tokenizer_token_to_id(const adapt_tokenizer *t, const char *tok);

/* Shared helpers. */
uint32_t *tk_utf8_to_cps(const char *s, size_t *n);                 /* lossy, caller frees */
adapt_status tk_pattern_from_json(const cJSON *j, const char *what, tk_regex **out); /* {"String"|"Regex"} */
adapt_status base64_decode(const char *in, unsigned char **out, size_t *out_len);
adapt_status tk_prepend_scheme(const cJSON *j, const char *what, prepend_scheme *out); /* Metaspace */
adapt_status tk_get_char(const cJSON *j, const char *key, const char *what, uint32_t *out); /* one-char string */

/* Small allocation helpers: they abort on exhaustion (sizes are bounded by validated input). */
void *tk_alloc(size_t n);
void *tk_realloc(void *p, size_t n);
char *tk_strdup(const char *s);
#define TK_GROW(ptr, cap, need) do { \
        if ((need) > (cap)) { \
            size_t nc_ = (cap) ? (cap) * 2 : 16; \
            while (nc_ < (need)) nc_ *= 2; \
            (ptr) = tk_realloc((ptr), nc_ * sizeof *(ptr)); \
            (cap) = nc_; \
        } \
    } while (0)

#define TK_MAX_DEPTH 32
#define TK_MAX_ID ((1 << 24) - 1)

#endif
