#include "cli/train_args.h"
#include "cli/args.h"
#include "train/train_bounds.h"
#include <string.h>

bool bounded_long(const char *cmd, const char *flag, const char *v, train_bound_id id, long *out)
{
    return arg_long(cmd, flag, v, (long)train_bounds[id].lo, (long)train_bounds[id].hi, out);
}

bool bounded_double(const char *cmd, const char *flag, const char *v, train_bound_id id, double *out)
{
    return arg_double(cmd, flag, v, train_bounds[id].lo, train_bounds[id].hi, out);
}

static int parse_flag(const char *a, train_options *o)
{
    if (!strcmp(a, "--quiet")) o->quiet = true;
    else if (!strcmp(a, "--whole-word-mask")) o->whole_word_mask = true;
    else if (!strcmp(a, "--resume")) o->resume = true;
    else if (!strcmp(a, "--check-checkpoint")) o->resume = o->check_checkpoint = true;
    else return 0;
    return 1;
}

static int parse_value(const char *cmd, const char *a, const char *v, train_options *o)
{
    long n;
    if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
    else if (!strcmp(a, "--dev")) o->dev_file = v;
    else if (!strcmp(a, "--output")) o->out_dir = v;
    else if (!strcmp(a, "--train")) {
        if (o->n_train_files == TRAIN_MAX_FILES) {
            fprintf(stderr, "adapt %s: at most %d --train files\n", cmd, TRAIN_MAX_FILES);
            return -1;
        }
        o->train_files[o->n_train_files++] = v;
    } else if (!strcmp(a, "--on-nan")) {
        if (strcmp(v, "abort") && strcmp(v, "skip")) {
            fprintf(stderr, "adapt %s: --on-nan must be abort or skip\n", cmd);
            return -1;
        }
        o->on_nan_skip = !strcmp(v, "skip");
    }
    else if (!strcmp(a, "--epochs")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_EPOCHS, &n)) return -1; o->epochs = (int)n; }
    else if (!strcmp(a, "--max-steps")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_MAX_STEPS, &o->max_steps)) return -1; }
    else if (!strcmp(a, "--batch-size")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_BATCH_SIZE, &n)) return -1; o->batch_size = (int)n; }
    else if (!strcmp(a, "--max-length")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_MAX_LENGTH, &n)) return -1; o->max_len = (int)n; }
    else if (!strcmp(a, "--grad-accum")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_GRAD_ACCUM, &n)) return -1; o->grad_accum = (int)n; }
    else if (!strcmp(a, "--lr")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_LR, &o->lr)) return -1; }
    else if (!strcmp(a, "--weight-decay")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_WEIGHT_DECAY, &o->weight_decay)) return -1; }
    else if (!strcmp(a, "--warmup")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_WARMUP, &o->warmup_ratio)) return -1; }
    else if (!strcmp(a, "--grad-clip")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_GRAD_CLIP, &o->grad_clip)) return -1; }
    else if (!strcmp(a, "--eval-every")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_EVAL_EVERY, &o->eval_every)) return -1; }
    else if (!strcmp(a, "--patience")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_PATIENCE, &n)) return -1; o->patience = (int)n; }
    else if (!strcmp(a, "--max-seconds")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_MAX_SECONDS, &o->max_seconds)) return -1; }
    else if (!strcmp(a, "--max-train-examples")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_MAX_TRAIN_EXAMPLES, &o->max_train_examples)) return -1; }
    else if (!strcmp(a, "--max-dev-examples")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_MAX_DEV_EXAMPLES, &o->max_dev_examples)) return -1; }
    else if (!strcmp(a, "--checkpoint-every")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_CHECKPOINT_EVERY, &o->checkpoint_every)) return -1; }
    else if (!strcmp(a, "--seed")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_SEED, &n)) return -1; o->seed = (uint64_t)n; }
    else return 0;
    return 1;
}

static const char *const value_options[] = {
    "--tokenizer", "--dev", "--output", "--train", "--on-nan", "--epochs", "--max-steps", "--batch-size", "--max-length",
    "--grad-accum", "--lr", "--weight-decay", "--warmup", "--grad-clip", "--eval-every", "--patience", "--max-seconds",
    "--max-train-examples", "--max-dev-examples", "--checkpoint-every", "--seed"};

int parse_train_option(const char *cmd, int argc, char **argv, int *i, train_options *o)
{
    const char *a = argv[*i];
    if (parse_flag(a, o)) return 1;
    bool known = false;
    for (size_t k = 0; k < sizeof value_options / sizeof *value_options; k++) known |= !strcmp(a, value_options[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "adapt %s: %s needs a value\n", cmd, a);
        return -1;
    }
    return parse_value(cmd, a, argv[++*i], o);
}

void print_train_options_help(FILE *fp, const train_options *d)
{
    fprintf(fp,
            "  --epochs N (%d)  --max-steps N  --batch-size N (%d)  --grad-accum N (%d)\n"
            "  --lr X (%g)  --weight-decay X (%g)  --warmup X (%g of the steps)  --grad-clip X (%g)\n"
            "  --eval-every N (steps; default once per epoch)  --patience N  --max-seconds X\n"
            "  --max-train-examples N  --max-dev-examples N  --seed N (%llu)  --quiet\n"
            "  --whole-word-mask         masked LM: mask 15%% of the words, each with all its tokens (Hugging Face's\n"
            "                            DataCollatorForWholeWordMask; words from the vocabulary's \"\xc4\xa0\" / \"\xe2\x96\x81\" / \"##\" marks)\n"
            "  --checkpoint-every N      write OUT/checkpoint/ (trainable tensors, AdamW moments, RNG and data\n"
            "                            position) atomically every N optimizer steps\n"
            "  --resume                  continue from OUT/checkpoint/ if there is one (same options): the losses\n"
            "                            match an uninterrupted run bit for bit\n"
            "  --check-checkpoint        with --resume: load OUT/checkpoint/, report its step, do not train\n"
            "  --on-nan abort|skip       NaN/Inf loss or gradient: stop with an error (default) or drop the step\n",
            d->epochs, d->batch_size, d->grad_accum, d->lr, d->weight_decay, d->warmup_ratio, d->grad_clip, (unsigned long long)d->seed);
}
