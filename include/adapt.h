/* adapt — parameter-efficient transfer learning with adapters, in C.
 *
 * The only header users include. Every function that can fail returns an adapt_status; on failure
 * adapt_error() gives a one-line message naming the file, the field and the problem.
 * Handles are opaque; free them with the matching *_free function (NULL is accepted).
 */
#ifndef ADAPT_H
#define ADAPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */
typedef enum adapt_status {
    ADAPT_OK = 0,
    ADAPT_ERR_IO = 1,          /* cannot open, read or write a file */
    ADAPT_ERR_FORMAT = 2,      /* a file is malformed or inconsistent */
    ADAPT_ERR_UNSUPPORTED = 3, /* valid input that adapt does not implement */
    ADAPT_ERR_NOMEM = 4,       /* allocation failed or a declared size is past a sane bound */
    ADAPT_ERR_ARG = 5,         /* bad argument from the caller or the command line */
    ADAPT_ERR_NUMERIC = 6      /* NaN/Inf where a finite number is required */
} adapt_status;

/* The message of the last failure on this thread ("" when none). */
const char *adapt_error(void);

/* ------------------------------------------------------------------ tensors in files */
typedef enum adapt_dtype {
    ADAPT_DTYPE_BOOL, ADAPT_DTYPE_U8, ADAPT_DTYPE_I8, ADAPT_DTYPE_U16, ADAPT_DTYPE_I16,
    ADAPT_DTYPE_F16, ADAPT_DTYPE_BF16, ADAPT_DTYPE_U32, ADAPT_DTYPE_I32, ADAPT_DTYPE_F32,
    ADAPT_DTYPE_U64, ADAPT_DTYPE_I64, ADAPT_DTYPE_F64, ADAPT_DTYPE_F8_E4M3, ADAPT_DTYPE_F8_E5M2,
    ADAPT_DTYPE_COUNT
} adapt_dtype;

#define ADAPT_MAX_DIMS 8

/* One tensor as a caller hands it to the writer (data laid out row-major in `dtype`). */
typedef struct adapt_tensor_desc {
    const char *name;
    adapt_dtype dtype;
    int ndim;
    int64_t shape[ADAPT_MAX_DIMS];
    const void *data;
} adapt_tensor_desc;

/* Writes a .safetensors file atomically (temp file, fsync, rename, fsync of the directory).
 * `metadata` is an optional list of n_meta key/value string pairs for "__metadata__". */
adapt_status adapt_safetensors_write(const char *path, const adapt_tensor_desc *tensors, size_t n,
                                     const char *const *metadata, size_t n_meta);

/* ------------------------------------------------------------------ models */
/* A model keeps the activations of its last pass in itself: one call at a time per model (threads
 * that share a model take turns; each may hold its own). */
typedef struct adapt_model adapt_model;

/* Loads a Hugging Face model folder: config.json + model.safetensors or
 * model.safetensors.index.json with its shards. F16/BF16/F64 weights are converted to F32. */
adapt_status adapt_model_load(const char *dir, adapt_model **out);
void adapt_model_free(adapt_model *model);

/* How the encoder's frozen linear weights (query, key, value, attention output, intermediate and
 * output dense: 85M of bert-base's 110M parameters) are held. ADAPT_WEIGHTS_BF16 is weight-only
 * bf16: they are stored as bf16 (rounded to nearest even; half the memory) and each is widened to
 * fp32 right before its GEMM, so all arithmetic stays fp32 (no bf16 arithmetic anywhere). Biases,
 * embeddings, LayerNorms, heads and adapters stay fp32. Weights held as bf16 cannot train, and
 * what needs their fp32 values (saving the base model, merging LoRA, the GPU backend) is refused. */
typedef enum adapt_weight_dtype { ADAPT_WEIGHTS_FP32 = 0, ADAPT_WEIGHTS_BF16 = 1 } adapt_weight_dtype;
/* adapt_model_load with the weights held as `dtype` from the start: a bf16 load never holds the
 * fp32 copies of those weights all at once (one tensor at a time while converting; a BF16
 * checkpoint is copied bit for bit). */
adapt_status adapt_model_load_dtype(const char *dir, adapt_weight_dtype dtype, adapt_model **out);
/* Switches a loaded model's weights to `dtype` (bf16: rounded, their fp32 copies freed; fp32:
 * widened back, i.e. the bf16 values). Refused while one of them is trainable, a LoRA is merged, a
 * DoRA LoRA is loaded (its norms need fp32 weights) or a LoRA's modules_to_save replace an encoder
 * tensor. */
adapt_status adapt_model_set_weight_dtype(adapt_model *model, adapt_weight_dtype dtype);

typedef struct adapt_model_info {
    const char *model_type;    /* "bert", "roberta", "xlm-roberta" */
    const char *architecture;  /* first entry of "architectures", or "" */
    int hidden_size, num_layers, num_heads, intermediate_size, vocab_size;
    int max_positions, type_vocab_size, pad_token_id;
    const char *hidden_act;
    double layer_norm_eps;
    size_t num_parameters;     /* base model tensors, heads included */
    size_t num_tensors;
} adapt_model_info;
void adapt_model_get_info(const adapt_model *model, adapt_model_info *info);

/* Encoder forward for a batch of B rows of T tokens (row-major ids, mask 1/0, type ids or NULL).
 * hidden_out: [B,T,H] last layer; all_hidden (optional) receives (L+1) x [B,T,H]. */
adapt_status adapt_model_encode(adapt_model *model, int B, int T, const int32_t *ids,
                                const int32_t *mask, const int32_t *type_ids,
                                float *hidden_out, float *all_hidden);

/* MLM logits [B,T,V] from the checkpoint's pretrained head (needs encode on the same batch). */
adapt_status adapt_model_mlm_logits(adapt_model *model, int B, int T, const int32_t *ids,
                                    const int32_t *mask, const int32_t *type_ids, float *logits);

/* ---- tokenizers ---- */
/* Hugging Face `tokenizers` pipelines (tokenizer.json), with identical ids, tokens and offsets.
 * Texts are UTF-8 with explicit lengths; invalid sequences become U+FFFD, as Rust's lossy
 * conversion does. One tokenizer must not encode from two threads at once (it caches words). */
typedef struct adapt_tokenizer adapt_tokenizer;

/* `path`: a tokenizer.json, a folder holding tokenizer.json (else vocab.txt, else *.model),
 * a BERT vocab.txt, or a SentencePiece .model (converted as transformers converts them). */
adapt_status adapt_tokenizer_load(const char *path, adapt_tokenizer **out);
void adapt_tokenizer_free(adapt_tokenizer *tok);

/* One encoded text (or text pair). Offsets are [start, end) in Unicode code points of the
 * ORIGINAL text of their sequence; word_ids are -1 for special and padding tokens. */
typedef struct adapt_encoding {
    size_t length;
    int32_t *ids;
    char **tokens;               /* NUL-terminated; a token may itself hold U+0000, hence: */
    size_t *token_lengths;       /* bytes of each token */
    int32_t (*offsets)[2];
    int32_t *type_ids;
    uint8_t *special_tokens_mask;
    uint8_t *attention_mask;
    int32_t *word_ids;
} adapt_encoding;
void adapt_encoding_free(adapt_encoding *enc); /* frees the arrays, not the struct */

typedef enum { ADAPT_TRUNCATE_LONGEST_FIRST, ADAPT_TRUNCATE_ONLY_FIRST, ADAPT_TRUNCATE_ONLY_SECOND } adapt_truncation;
/* max_length 0 turns truncation off (the tokenizer.json settings apply until changed). */
void adapt_tokenizer_set_truncation(adapt_tokenizer *tok, size_t max_length, adapt_truncation strategy, bool left);
/* length 0: pad a batch to its longest; multiple: round up to a multiple (0 = none). */
void adapt_tokenizer_set_padding(adapt_tokenizer *tok, bool enabled, size_t length, size_t multiple, bool left,
                                 int32_t pad_id, int32_t pad_type_id, const char *pad_token);

/* pair may be NULL. */
adapt_status adapt_tokenizer_encode(adapt_tokenizer *tok, const char *text, size_t len, const char *pair,
                                    size_t pair_len, bool add_special_tokens, adapt_encoding *out);
/* n texts (NUL-terminated), pairs NULL or n entries (each may be NULL); out has n entries. */
adapt_status adapt_tokenizer_encode_batch(adapt_tokenizer *tok, size_t n, const char *const *texts,
                                          const char *const *pairs, bool add_special_tokens, adapt_encoding *out);
/* Decoded text (malloc'd) of the ids; unknown ids are skipped. */
adapt_status adapt_tokenizer_decode(const adapt_tokenizer *tok, const int32_t *ids, size_t n,
                                    bool skip_special_tokens, char **out);
size_t adapt_tokenizer_vocab_size(const adapt_tokenizer *tok);     /* including added tokens */
int32_t adapt_tokenizer_token_to_id(const adapt_tokenizer *tok, const char *token); /* -1 if none */
const char *adapt_tokenizer_id_to_token(const adapt_tokenizer *tok, int32_t id);    /* NULL if none */

/* Trains a tokenizer on UTF-8 text files (plain or .xz) and writes `output` (a tokenizer.json):
 * "bpe" = RoBERTa-style byte-level BPE (<s>,<pad>,</s>,<unk>,<mask>), "wordpiece" = BERT-style
 * uncased-agnostic WordPiece ([PAD],[UNK],[CLS],[SEP],[MASK]). */
typedef struct adapt_tokenizer_train_options {
    const char *type;        /* "bpe" or "wordpiece" */
    size_t vocab_size;
    size_t min_frequency;    /* pairs seen fewer times are not merged (default 2 when 0) */
    bool lowercase;          /* wordpiece only */
} adapt_tokenizer_train_options;
adapt_status adapt_tokenizer_train(const adapt_tokenizer_train_options *opt, const char *const *files, size_t n_files,
                                   const char *output);
/* ---- tokenizers ---- */

/* ------------------------------------------------------------------ adapters and compositions */
/* Adapters live in the model they are loaded into, under their names, frozen. A composition
 * (AdapterHub's active setup) says which of them run: "ner", "Stack(qu, ner)", "Fuse(a, b, c)",
 * "BatchSplit(x, y, batch_sizes=[2, 1])", "Average(a, b, weights=[0.3, 0.7])", "Split(a, b,
 * splits=[3, 5])". adapt_model_encode, adapt_model_mlm_logits and adapt_head_logits run the model
 * through the active composition (none: the plain encoder). */

/* Loads an AdapterHub adapter folder (adapter_config.json + adapter.safetensors, or the legacy
 * pytorch_adapter.bin) as the Python library saves it; a PEFT prefix tuning folder (peft_type
 * PREFIX_TUNING) too, as a flat prefix tuning named "prefix" with PEFT's positions (the sequence's
 * start at the prefix length: docs/prefix-tuning.md). load_as (NULL: the saved name) renames it;
 * name_out (NULL: not wanted) receives the name it was loaded under, cut to name_size bytes. */
adapt_status adapt_model_load_adapter(adapt_model *model, const char *dir, const char *load_as, char *name_out,
                                      size_t name_size);
/* Adds a new adapter from a config string ("seq_bn", "double_seq_bn", "par_bn", "seq_bn_inv",
 * "seq_bn[reduction_factor=8,leave_out=[5]]") with AdapterHub's initialisation: near identity
 * (small random weights; "[init_weights=mam_adapter]": the up projection zero, exactly the model
 * without it). Prefix tuning too: "prefix_tuning[prefix_length=10,bottleneck_size=64]",
 * "prefix_tuning_flat", and unions with a bottleneck config: "mam", "prefix_tuning|par_bn"
 * (docs/prefix-tuning.md; prefixes run alone or in Stacks). `seed` draws its weights. */
adapt_status adapt_model_add_adapter(adapt_model *model, const char *name, const char *config, uint64_t seed);
/* Saves an adapter in AdapterHub layout (the folder adapters' load_adapter reads), atomically. */
adapt_status adapt_model_save_adapter(adapt_model *model, const char *name, const char *dir);
/* Removes an adapter and its tensors (refused while a loaded fusion holds it); the composition is
 * deactivated. */
adapt_status adapt_model_delete_adapter(adapt_model *model, const char *name);
/* The adapters loaded: how many, and the k-th name (NULL past the end). */
int adapt_model_num_adapters(const adapt_model *model);
const char *adapt_model_adapter_name(const adapt_model *model, int k);
/* Loads an AdapterFusion folder (adapter_fusion_config.json + model_adapter_fusion.safetensors);
 * the adapters it fuses must be loaded first. Activate it with "Fuse(a, b, c)". */
adapt_status adapt_model_load_fusion(adapt_model *model, const char *dir);
/* Loads a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors) onto the encoder's
 * linear layers, under PEFT's default name "default". The active LoRA applies on top of whatever
 * adapter composition is active. Merging adds the active LoRA's s B A (s = alpha / r, per module
 * with rank_pattern / alpha_pattern) into the weights (the same outputs, no LoRA cost); a DoRA
 * folder (use_dora) merges as c (W + s B A); unmerging takes it out. docs/lora.md. */
adapt_status adapt_model_load_lora(adapt_model *model, const char *dir);
adapt_status adapt_model_merge_lora(adapt_model *model);
adapt_status adapt_model_unmerge_lora(adapt_model *model);

/* Several LoRAs per model, by name (PEFT's load_adapter / set_adapter / delete_adapter; up to 16;
 * names of letters, digits, '_' and '-'). The model's first LoRA becomes active, later ones load
 * inactive. adapt_model_set_lora(model, NULL) runs the base model. A LoRA's modules_to_save (e.g.
 * its classifier) are its own: switching puts the arriving LoRA's values in the model's tensors
 * and the base values back for none. Deleting the active LoRA activates the first remaining one
 * (PEFT's delete_adapter). Switching or deleting the active LoRA is refused while it is merged. */
adapt_status adapt_model_load_lora_as(adapt_model *model, const char *dir, const char *name);
adapt_status adapt_model_set_lora(adapt_model *model, const char *name);
const char *adapt_model_active_lora(const adapt_model *model);       /* NULL: none */
int adapt_model_num_loras(const adapt_model *model);
const char *adapt_model_lora_name(const adapt_model *model, int i);  /* NULL out of range */
adapt_status adapt_model_delete_lora(adapt_model *model, const char *name);
/* A new LoRA `name` from n loaded ones with weights (PEFT's add_weighted_adapter), loaded inactive
 * and frozen; its config is the first LoRA's with r = lora_alpha = the new rank (scaling 1) and the
 * union of the target modules; no modules_to_save of its own. The types, as PEFT (s_i = LoRA i's
 * scaling; with one LoRA every type is "linear"):
 *   "cat": the LoRAs side by side, rank = the sum of the ranks, B A = sum w_i s_i B_i A_i exactly;
 *   "linear": A = sum sqrt(w_i s_i) A_i, B likewise (each factor merged on its own: equal ranks,
 *     weights of 0 or more); "ties", "magnitude_prune", "dare_linear", "dare_ties": the same factors
 *     merged by TIES (keep the largest `density` of each, elect a sign per entry, average those
 *     that agree), magnitude pruning, or DARE (keep a random `density`, rescaled);
 *   "svd" (PEFT's default): the deltas s_i B_i A_i merged with weights w_i s_i (s_i twice, as in
 *     PEFT), then their truncated SVD, rank svd_rank (0: the largest input rank), entries clamped
 *     at the svd_clamp quantile when above 0; "ties_svd", "magnitude_prune_svd",
 *     "dare_linear_svd", "dare_ties_svd": the deltas merged by that method first.
 * DARE draws its masks from `seed` (PEFT's torch generator draws others). An option the type
 * does not read (a density for "svd", a non-zero seed for "ties", ...) is refused (PEFT ignores
 * it). Refused with ADAPT_ERR_UNSUPPORTED: DoRA LoRAs, LoRAs on embedding tables, and LoRAs with
 * rank_pattern, alpha_pattern or layers_to_transform. (IA)^3s combine only as "linear" (also when
 * how->type is NULL), PEFT's IA3
 * add_weighted_adapter: each module's l the weighted sum of the inputs' alpha l that have it. `how` must not be NULL; at most 15 LoRAs (the model holds 16). */
typedef struct adapt_lora_combination {
    const char *type;          /* NULL: "svd" */
    int svd_rank;              /* svd types: the new rank; 0: the largest of the inputs' ranks */
    double svd_clamp;          /* svd types: a quantile in (0, 1]; 0: no clamping */
    double density;            /* ties, magnitude_prune, dare types: fraction of each input kept, (0, 1] */
    const char *majority_sign; /* ties types: NULL or "total" (sum of values), "frequency" (count of signs) */
    uint64_t seed;             /* dare types: the random masks */
} adapt_lora_combination;
adapt_status adapt_model_combine_loras(adapt_model *model, const char *const *loras, const double *weights, int n,
                                       const char *name, const adapt_lora_combination *how);
/* The same with a type's defaults: combination "cat", "linear", "svd", ... (NULL: "svd"; those
 * needing a density are refused without one). */
adapt_status adapt_model_add_weighted_lora(adapt_model *model, const char *const *loras, const double *weights, int n,
                                           const char *name, const char *combination);
/* Saves LoRA `name` as a PEFT folder (unmerged; the active LoRA is left as it was). PEFT's IA3
 * folders (peft_type "IA3": target_modules, feedforward_modules, "<module>.ia3_l") load with the
 * LoRA calls and save here too: l scales the output of a target module (bias included) or, on a
 * feedforward module, its input (merging scales W's rows and b, or W's columns). Both libraries'
 * exclude_modules are honoured. An (IA)^3 with a scale alpha other than 1 (AdapterHub's) has no
 * PEFT file (ADAPT_ERR_UNSUPPORTED). LoRAs on the embedding tables (target_modules
 * "word_embeddings", "position_embeddings", "token_type_embeddings": lora_embedding_A / _B) load,
 * run, merge and save as PEFT's lora.Embedding does; bias "lora_only" / "all" files bring their
 * biases (the LoRA's values while it is active). */
adapt_status adapt_model_save_lora(adapt_model *model, const char *name, const char *dir);
/* AdapterHub's LoRA folders (the `adapters` library's LoRAConfig, architecture "lora": adapter_config.json
 * + adapter.safetensors with "<module>.loras.<name>.lora_A / lora_B") load with the two calls above
 * (adapt_model_load_lora, adapt_model_load_lora_as) as PEFT folders do: the same LoRA, s = alpha / r
 * on the modules selfattn_lora + attn_matrices, intermediate_lora and output_lora pick outside
 * leave_out. This saves LoRA `name` in that layout, for `adapters`' load_adapter; refused with
 * ADAPT_ERR_UNSUPPORTED when its LoRAConfig cannot say it (DoRA, ranks or scalings per module,
 * attention.output.dense, other modules in some layers, encoder tensors in modules_to_save). A
 * classifier among modules_to_save is left out: AdapterHub keeps heads in folders of their own.
 * AdapterHub's (IA)^3 (composition_mode "scale", IA3Config) loads, runs, merges and saves the same
 * way: each output of a scaled layer, bias included, times alpha l (merging scales W and b rows;
 * a zero scale is refused); with alpha 1 it saves as PEFT's IA3 too.
 * PEFT's input scaling (feedforward_modules) has no AdapterHub layout (refused). */
adapt_status adapt_model_save_lora_adapterhub(adapt_model *model, const char *name, const char *dir);

/* Activates a composition (every adapter or fusion it names must be loaded); NULL or "": none.
 * One with a Parallel block runs through adapt_model_encode_channels only. */
adapt_status adapt_model_set_setup(adapt_model *model, const char *composition);
/* The active composition as text ("" when none) in buf (cut to size); returns its full length. */
size_t adapt_model_get_setup(const adapt_model *model, char *buf, size_t size);

/* AdapterHub's Parallel: the same batch through several channels in one pass ("Parallel(sst2,
 * rte)", or under a Stack: "Stack(en, Parallel(ner, pos))"), e.g. several tasks' predictions for
 * the same input; as in AdapterHub, the block's first adapter's pre-forward runs over every
 * channel before its children (a Stack child then differs from that Stack alone). adapt_model_setup_channels gives the active composition's channel count (1
 * without Parallel); adapt_model_encode_channels writes hidden_out [channels, B, T, H], channel c
 * (the Parallel block's c-th child) at c * B * T * H; a head per channel with
 * adapt_head_logits_from_hidden. */
int adapt_model_setup_channels(const adapt_model *model);
adapt_status adapt_model_encode_channels(adapt_model *model, int B, int T, const int32_t *ids, const int32_t *mask,
                                         const int32_t *type_ids, float *hidden_out);

/* Multi-adapter batched inference: row b of the batch runs through composition setups[b]
 * (AdapterHub's syntax: "Stack(qu, ner)" for one row, "Stack(en, ner)" or "sst2" for the next), in
 * one pass: the base encoder's work is shared, and each row gets exactly what its composition
 * gives alone (its invertible adapter included). hidden_out: [B,T,H] in the caller's row order.
 * The active composition is left as it was. The active LoRA applies to every row (per-row LoRAs:
 * adapt_model_encode_mixed_lora). */
adapt_status adapt_model_encode_mixed(adapt_model *model, int B, int T, const int32_t *ids, const int32_t *mask,
                                      const int32_t *type_ids, const char *const *setups, float *hidden_out);

/* Mixed-LoRA batched inference (PEFT's adapter_names): row b under LoRA names[b] (NULL or "": no
 * LoRA, the base model's row), one pass over the batch under the active adapter composition.
 * Each row gets what its LoRA gives when active; the active LoRA must not be merged, and the
 * composition must not be a Parallel or BatchSplit (they replicate rows or assign them by position). A LoRA whose
 * modules_to_save replace encoder tensors can share a pass only as the active LoRA with no other
 * row; a classifier is not part of the encoder: per LoRA, adapt_model_set_lora then
 * adapt_head_logits_from_hidden on its rows. hidden_out: [B,T,H] in the caller's row order. */
adapt_status adapt_model_encode_mixed_lora(adapt_model *model, int B, int T, const int32_t *ids, const int32_t *mask,
                                           const int32_t *type_ids, const char *const *names, float *hidden_out);

/* ------------------------------------------------------------------ heads */
/* A prediction head saved by AdapterHub (head_config.json + model_head.safetensors): its tensors
 * go into the model (under its saved name, or load_as when not NULL) and stay there until the
 * model is freed; the handle keeps its kind and label names and is used with that model. Free it,
 * before or after the model, with adapt_head_free. */
typedef struct adapt_head adapt_head;
typedef enum adapt_head_kind {
    ADAPT_HEAD_TAGGING,        /* a label per token */
    ADAPT_HEAD_CLASSIFICATION, /* a label per sequence (from its first token) */
    ADAPT_HEAD_REGRESSION      /* a classification head with one output: a value per sequence */
} adapt_head_kind;

adapt_status adapt_head_load(adapt_model *model, const char *dir, const char *load_as, adapt_head **out);
void adapt_head_free(adapt_head *head);
adapt_head_kind adapt_head_get_kind(const adapt_head *head);
int adapt_head_num_labels(const adapt_head *head);
const char *adapt_head_label(const adapt_head *head, int k);   /* label2id's name of id k; NULL past the end */
/* The encoder (active composition) and the head on a batch: logits [B,T,labels] for a tagging
 * head, [B,labels] for the others (a regression head: [B,1], the value). */
adapt_status adapt_head_logits(adapt_head *head, int B, int T, const int32_t *ids, const int32_t *mask,
                               const int32_t *type_ids, float *logits);
/* The head alone on last hidden states [B,T,H] (e.g. from adapt_model_encode_mixed). */
adapt_status adapt_head_logits_from_hidden(adapt_head *head, int B, int T, const float *hidden, float *logits);

/* ------------------------------------------------------------------ tagging words */
/* What `adapt predict` and `adapt demo quechua-ner` do for a tagging head: words in, a tag per
 * word out (the first sub-token's logits, decoded as a valid IOB2 sequence; sentences longer than
 * max_length tokens tagged in windows). */
typedef struct adapt_tagger adapt_tagger;
typedef struct adapt_tagger_options {
    const char *model_dir;          /* Hugging Face model folder */
    const char *tokenizer;          /* NULL: the model folder's */
    const char *const *adapters;    /* AdapterHub folders ("DIR" or "DIR=NAME"), n_adapters of them */
    int n_adapters;
    const char *head_dir;           /* NULL: the last adapter's folder */
    const char *lora_dir;           /* PEFT LoRA folder, or NULL */
    const char *setup;              /* composition; NULL: the last adapter alone */
    int max_length, batch_size;     /* tokens per sentence (0: 128), sentences per batch (0: 32) */
    bool progress;                  /* a call that runs past 3 s shows its progress on stderr */
} adapt_tagger_options;

adapt_status adapt_tagger_open(const adapt_tagger_options *options, adapt_tagger **out);
void adapt_tagger_free(adapt_tagger *tagger);
/* The tagger's model: load more adapters into it, or change its composition (e.g. swap the
 * language adapter under the task adapter, MAD-X's zero-shot transfer). */
adapt_model *adapt_tagger_model(adapt_tagger *tagger);
int adapt_tagger_num_labels(const adapt_tagger *tagger);
const char *adapt_tagger_label(const adapt_tagger *tagger, int k);   /* NULL past the end */
/* Tags n sentences: words[s] holds n_words[s] words; tags[s][w] receives a label id, and
 * scores[s][w] (scores NULL: not wanted) the probability the head gives it. */
adapt_status adapt_tagger_tag(adapt_tagger *tagger, size_t n, const char *const *const *words, const size_t *n_words,
                              int32_t **tags, float **scores);

/* ------------------------------------------------------------------ training */
/* `adapt train` as a function: data from files (CoNLL, GLUE TSV, JSON Lines or raw text for "mlm"),
 * only what the method trains is trainable, evaluation on the dev file every eval_every steps,
 * and the output folder written as the command writes it: best/ (the best checkpoint in AdapterHub /
 * PEFT / Hugging Face layout), summary.json, curve.svg, losses.tsv. Fill the options with
 * adapt_train_options_init (the command's defaults) and set what differs. */
typedef enum adapt_train_method {
    ADAPT_TRAIN_ADAPTER,  /* a new adapter (adapter_config: bottleneck, prefix tuning or a union) + head; the model frozen */
    ADAPT_TRAIN_LORA,     /* PEFT LoRA (lora_r, lora_alpha; lora_dora: DoRA; lora_ia3: (IA)^3) + head */
    ADAPT_TRAIN_FULL,     /* every weight */
    ADAPT_TRAIN_HEAD,     /* the head only */
    ADAPT_TRAIN_TOPK,     /* the top top_k layers + head */
    ADAPT_TRAIN_FUSION    /* AdapterFusion over `fusion` ("a,b,c", loaded with load_adapters) + head */
} adapt_train_method;

typedef struct adapt_train_options {
    const char *model_dir;              /* Hugging Face model folder */
    const char *tokenizer;              /* NULL: the model folder's */
    const char *task;                   /* "ner", a GLUE task ("sst2", "rte", "stsb", ...), "tsv" or "mlm" */
    const char *const *train_files;     /* n_train_files (1-16); each its own `setup` composition when several */
    int n_train_files;
    const char *dev_file;               /* NULL: no evaluation (mlm: 2% of the rows held out) */
    const char *output_dir;
    adapt_train_method method;
    const char *name;                   /* adapter and head name; NULL: the task */
    const char *adapter_config;         /* ADAPTER: "seq_bn", "seq_bn_inv[reduction_factor=2]", ... */
    const char *setup;                  /* composition(s) to train in ("Stack(en, ner);Stack(qu, ner)");
                                         * NULL: the new adapter alone */
    const char *const *load_adapters;   /* frozen AdapterHub folders ("DIR" or "DIR=NAME"), 0-8 */
    int n_load_adapters;
    const char *fusion;                 /* FUSION: the fused adapters, "a,b,c" */
    int top_k, lora_r;
    double lora_alpha;
    bool lora_dora;                     /* LORA: DoRA (PEFT's use_dora), a learnt magnitude per output row */
    double lora_dropout;                /* LORA: PEFT's lora_dropout on each LoRA's input while training, [0, 0.95] */
    const char *lora_targets;           /* LORA: PEFT's target_modules, comma-separated (NULL: "query,value"); the
                                         * embedding tables too ("word_embeddings", ...) */
    bool lora_ia3;                      /* LORA: (IA)^3 instead (AdapterHub's IA3Config: each output of the key, value
                                         * and intermediate layers times a learnt scale, from 1; lora_r / lora_alpha
                                         * unused), saved in AdapterHub's layout */
    bool lora_ia3_peft;                 /* with lora_ia3: PEFT's IA3Config for BERT / RoBERTa instead (key and value
                                         * outputs, attention.output.dense and output.dense inputs times learnt
                                         * scales), saved in PEFT's layout with the head */
    int epochs;                         /* 1-100000 */
    long max_steps;                     /* 0: the epochs decide */
    int batch_size, max_length, grad_accum;
    double lr, weight_decay, warmup_ratio, grad_clip;
    long eval_every;                    /* 0: once per epoch */
    int patience;                       /* evaluations without improvement before stopping; 0: never */
    long max_dev_examples;              /* 0: the whole dev file */
    double max_seconds;                 /* 0: no time limit */
    uint64_t seed;
    bool quiet;                         /* no progress lines on stderr */
} adapt_train_options;

void adapt_train_options_init(adapt_train_options *options);
adapt_status adapt_train(const adapt_train_options *options);

#ifdef __cplusplus
}
#endif
#endif
