/* The public API's training entry (adapt.h): adapt_train_options checked against the ranges of
 * `adapt train`'s options (train/train_bounds.h), then the trainer (train/trainer.h). */
#include "core/error.h"
#include "train/train_bounds.h"
#include "train/trainer.h"
#include <string.h>

_Static_assert((int)ADAPT_TRAIN_ADAPTER == (int)METHOD_ADAPTER && (int)ADAPT_TRAIN_LORA == (int)METHOD_LORA &&
                   (int)ADAPT_TRAIN_FULL == (int)METHOD_FULL && (int)ADAPT_TRAIN_HEAD == (int)METHOD_HEAD &&
                   (int)ADAPT_TRAIN_TOPK == (int)METHOD_TOPK && (int)ADAPT_TRAIN_FUSION == (int)METHOD_FUSION,
               "adapt.h's training methods are the trainer's, in its order");

void adapt_train_options_init(adapt_train_options *p)
{
    if (!p) return;
    train_options d;
    train_options_defaults(&d);
    *p = (adapt_train_options){.task = d.task, .method = (adapt_train_method)d.method, .adapter_config = d.adapter_config,
                               .top_k = d.top_k, .lora_r = d.lora_r, .lora_alpha = d.lora_alpha, .epochs = d.epochs,
                               .batch_size = d.batch_size, .max_length = d.max_len, .grad_accum = d.grad_accum, .lr = d.lr,
                               .weight_decay = d.weight_decay, .warmup_ratio = d.warmup_ratio, .grad_clip = d.grad_clip,
                               .seed = d.seed};
}

/* A number outside [lo, hi] (NaN included) is refused, naming the field. */
static adapt_status in_range(const char *field, double v, double lo, double hi)
{
    if (!(v >= lo && v <= hi)) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: %s is %g, not in [%g, %g]", field, v, lo, hi);
    return ADAPT_OK;
}

/* In the range of `adapt train`'s option; unset_ok: 0 also means "not set" for this field. */
static adapt_status in_bounds(train_bound_id id, double v, bool unset_ok)
{
    const train_bound *b = &train_bounds[id];
    return unset_ok && v == 0 ? ADAPT_OK : in_range(b->field, v, b->lo, b->hi);
}

static adapt_status check(const adapt_train_options *p)
{
    if (!p->model_dir || !p->output_dir || !p->task) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: no model, task or output folder");
    TRY(in_range("n_train_files", p->n_train_files, 1, TRAIN_MAX_FILES));
    TRY(in_range("n_load_adapters", p->n_load_adapters, 0, TRAIN_MAX_LOADED));
    for (int i = 0; i < p->n_train_files; i++)
        if (!p->train_files || !p->train_files[i]) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: train file %d is missing", i);
    for (int i = 0; i < p->n_load_adapters; i++)
        if (!p->load_adapters || !p->load_adapters[i]) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: loaded adapter %d is missing", i);
    TRY(in_range("method", p->method, ADAPT_TRAIN_ADAPTER, ADAPT_TRAIN_FUSION));
    if (p->method == ADAPT_TRAIN_FUSION && !p->fusion) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: a fusion method without `fusion`");
    if (p->method == ADAPT_TRAIN_ADAPTER && !p->adapter_config) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: no adapter_config");
    TRY(in_bounds(TRAIN_BOUND_TOP_K, p->top_k, false));
    TRY(in_bounds(TRAIN_BOUND_LORA_R, p->lora_r, false));
    TRY(in_bounds(TRAIN_BOUND_LORA_ALPHA, p->lora_alpha, false));
    TRY(in_bounds(TRAIN_BOUND_LORA_DROPOUT, p->lora_dropout, false));
    TRY(in_bounds(TRAIN_BOUND_EPOCHS, p->epochs, false));
    TRY(in_bounds(TRAIN_BOUND_MAX_STEPS, (double)p->max_steps, true));
    TRY(in_bounds(TRAIN_BOUND_BATCH_SIZE, p->batch_size, false));
    TRY(in_bounds(TRAIN_BOUND_MAX_LENGTH, p->max_length, false));
    TRY(in_bounds(TRAIN_BOUND_GRAD_ACCUM, p->grad_accum, false));
    TRY(in_bounds(TRAIN_BOUND_LR, p->lr, false));
    TRY(in_bounds(TRAIN_BOUND_WEIGHT_DECAY, p->weight_decay, false));
    TRY(in_bounds(TRAIN_BOUND_WARMUP, p->warmup_ratio, false));
    TRY(in_bounds(TRAIN_BOUND_GRAD_CLIP, p->grad_clip, false));
    TRY(in_bounds(TRAIN_BOUND_EVAL_EVERY, (double)p->eval_every, true));
    TRY(in_bounds(TRAIN_BOUND_PATIENCE, p->patience, false));
    TRY(in_bounds(TRAIN_BOUND_MAX_DEV_EXAMPLES, (double)p->max_dev_examples, true));
    TRY(in_bounds(TRAIN_BOUND_MAX_SECONDS, p->max_seconds, false));
    return ADAPT_OK;
}

adapt_status adapt_train(const adapt_train_options *p)
{
    if (!p) return adapt_fail(ADAPT_ERR_ARG, "adapt_train: no options");
    TRY(check(p));
    train_options o;
    train_options_defaults(&o);
    o.model_dir = p->model_dir;
    o.tokenizer = p->tokenizer;
    o.task = p->task;
    for (int i = 0; i < p->n_train_files; i++) o.train_files[i] = p->train_files[i];
    o.n_train_files = p->n_train_files;
    o.dev_file = p->dev_file;
    o.out_dir = p->output_dir;
    o.method = (train_method)p->method;
    o.name = p->name;
    o.adapter_config = p->adapter_config;
    o.setup = p->setup;
    for (int i = 0; i < p->n_load_adapters; i++) o.load_adapters[i] = p->load_adapters[i];
    o.n_load = p->n_load_adapters;
    o.fusion = p->fusion;
    o.top_k = p->top_k;
    o.lora_r = p->lora_r;
    o.lora_alpha = p->lora_alpha;
    o.lora_dora = p->lora_dora;
    o.lora_targets = p->lora_targets;
    o.lora_dropout = p->lora_dropout;
    o.lora_ia3 = p->lora_ia3 || p->lora_ia3_peft;
    o.lora_ia3_peft = p->lora_ia3_peft;
    o.epochs = p->epochs;
    o.max_steps = p->max_steps;
    o.batch_size = p->batch_size;
    o.max_len = p->max_length;
    o.grad_accum = p->grad_accum;
    o.lr = p->lr;
    o.weight_decay = p->weight_decay;
    o.warmup_ratio = p->warmup_ratio;
    o.grad_clip = p->grad_clip;
    o.eval_every = p->eval_every;
    o.patience = p->patience;
    o.max_dev_examples = p->max_dev_examples;
    o.max_seconds = p->max_seconds;
    o.seed = p->seed;
    o.quiet = p->quiet;
    return trainer_run(&o);
}
