/* adapt train — fine-tune on NER or a GLUE-style task (classification or regression) with an
 * adapter, LoRA or a baseline. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "train/trainer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: adapt train --model DIR --train FILE [--dev FILE] --output DIR [options]\n"
            "  --task ner|sst2|cola|mrpc|rte|stsb|tsv|...   (default ner: CoNLL token<TAB>tag files; tsv: any\n"
            "                            header layout, labels collected)\n"
            "  --regression              task tsv: the label is a number; trains a regression head (AdapterHub's\n"
            "                            classification head with one output, MSE loss; dev metric Pearson). stsb\n"
            "                            is regression already\n"
            "  --format auto|conll|tsv|jsonl  format of --train and --dev (default auto: .jsonl / .jsonl.xz are\n"
            "                            JSON Lines, {\"text\", \"text_pair\", \"label\"} or {\"tokens\", \"tags\"})\n"
            "  --tokenizer PATH          tokenizer.json or folder (default: the model folder)\n"
            "  --method adapter|lora|full|head|topk|fusion   (default adapter)\n"
            "  --fusion a,b,c            train an AdapterFusion over adapters loaded with --load-adapter (frozen);\n"
            "                            sets --method fusion; saved with the head in OUT/best/NAME/\n"
            "  --fusion-config STR       dynamic (default), static, \"dynamic[temperature=true]\"\n"
            "  --fusion-train-adapters   unfreeze the fused adapters too (saved in OUT/best/<adapter>/)\n"
            "  --adapter-config STR      e.g. seq_bn, double_seq_bn, \"seq_bn[reduction_factor=16]\"\n"
            "  --train-layer-norms       the adapter gets its own copies of the LayerNorms at its points\n"
            "                            (initialised from the model's) and trains them (Houlsby et al.); they are\n"
            "                            saved in its adapter.safetensors as *.adapters.NAME.original_ln.* and used\n"
            "                            whenever it is active. Default: the model's LayerNorms, frozen (AdapterHub)\n"
            "  --name NAME               adapter and head name (default: the task)\n"
            "  --load-adapter DIR[=NAME] load a frozen AdapterHub adapter (repeatable)\n"
            "  --setup STR               composition to train in, e.g. \"Stack(en, ner)\"; several separated\n"
            "                            by ';' are used in turn, one step each (evaluation uses the first)\n"
            "  --top-k N  --lora-r N  --lora-alpha X\n"
            "  --epochs N (3)  --max-steps N  --batch-size N (32)  --max-length N (128)  --grad-accum N (1)\n"
            "  --lr X (1e-4)  --weight-decay X (0.01)  --warmup X (0.1)  --grad-clip X (1.0)\n"
            "  --eval-every N (steps; default once per epoch)  --patience N  --max-seconds X\n"
            "  --max-train-examples N  --max-dev-examples N  --seed N  --quiet\n"
            "  --checkpoint-every N      write OUT/checkpoint/ (trainable tensors, AdamW moments, RNG and data\n"
            "                            position) atomically every N optimizer steps\n"
            "  --resume                  continue from OUT/checkpoint/ if there is one (same options): the losses\n"
            "                            match an uninterrupted run bit for bit\n"
            "  --check-checkpoint        with --resume: load OUT/checkpoint/, report its step, do not train\n"
            "  --on-nan abort|skip       NaN/Inf loss or gradient: stop with an error (default) or drop the step\n"
            "Writes OUT/best/ (the best checkpoint by the dev metric), OUT/summary.json, OUT/curve.svg and\n"
            "OUT/losses.tsv (step, loss of each optimizer step at full precision).\n");
}

int cmd_train(int argc, char **argv)
{
    train_options o;
    train_options_defaults(&o);
    const char *cmd = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            o.quiet = true;
            continue;
        }
        if (!strcmp(a, "--resume") || !strcmp(a, "--check-checkpoint")) {
            o.resume = true;
            o.check_checkpoint |= !strcmp(a, "--check-checkpoint");
            continue;
        }
        if (!strcmp(a, "--fusion-train-adapters")) {
            o.fusion_train_adapters = true;
            continue;
        }
        if (!strcmp(a, "--regression")) {
            o.regression = true;
            continue;
        }
        if (!strcmp(a, "--train-layer-norms")) {
            o.train_layer_norms = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "adapt train: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) o.model_dir = v;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
        else if (!strcmp(a, "--task")) o.task = v;
        else if (!strcmp(a, "--train")) o.train_file = v;
        else if (!strcmp(a, "--dev")) o.dev_file = v;
        else if (!strcmp(a, "--format")) {
            if (data_format_parse(v, &o.format)) {
                fprintf(stderr, "adapt train: %s\n", adapt_error());
                return 2;
            }
        }
        else if (!strcmp(a, "--output")) o.out_dir = v;
        else if (!strcmp(a, "--name")) o.name = v;
        else if (!strcmp(a, "--adapter-config")) o.adapter_config = v;
        else if (!strcmp(a, "--setup")) o.setup = v;
        else if (!strcmp(a, "--fusion")) o.fusion = v, o.method = METHOD_FUSION;
        else if (!strcmp(a, "--fusion-config")) o.fusion_config = v;
        else if (!strcmp(a, "--load-adapter")) {
            if (o.n_load == TRAIN_MAX_LOADED) {
                fprintf(stderr, "adapt train: at most %d --load-adapter\n", TRAIN_MAX_LOADED);
                return 2;
            }
            o.load_adapters[o.n_load++] = v;
        } else if (!strcmp(a, "--method")) {
            static const char *names[] = {"adapter", "lora", "full", "head", "topk", "fusion"};
            int k = -1;
            for (int j = 0; j < 6; j++)
                if (!strcmp(v, names[j])) k = j;
            if (k < 0) {
                fprintf(stderr, "adapt train: --method must be adapter, lora, full, head, topk or fusion\n");
                return 2;
            }
            o.method = (train_method)k;
        } else if (!strcmp(a, "--top-k")) { if (!arg_long(cmd, a, v, 1, 1000, &n)) return 2; o.top_k = (int)n; }
        else if (!strcmp(a, "--lora-r")) { if (!arg_long(cmd, a, v, 1, 4096, &n)) return 2; o.lora_r = (int)n; }
        else if (!strcmp(a, "--lora-alpha")) { if (!arg_double(cmd, a, v, 1e-6, 1e6, &o.lora_alpha)) return 2; }
        else if (!strcmp(a, "--epochs")) { if (!arg_long(cmd, a, v, 1, 100000, &n)) return 2; o.epochs = (int)n; }
        else if (!strcmp(a, "--max-steps")) { if (!arg_long(cmd, a, v, 1, 1000000000, &o.max_steps)) return 2; }
        else if (!strcmp(a, "--batch-size")) { if (!arg_long(cmd, a, v, 1, 65536, &n)) return 2; o.batch_size = (int)n; }
        else if (!strcmp(a, "--max-length")) { if (!arg_long(cmd, a, v, 8, 65536, &n)) return 2; o.max_len = (int)n; }
        else if (!strcmp(a, "--grad-accum")) { if (!arg_long(cmd, a, v, 1, 4096, &n)) return 2; o.grad_accum = (int)n; }
        else if (!strcmp(a, "--lr")) { if (!arg_double(cmd, a, v, 1e-12, 10, &o.lr)) return 2; }
        else if (!strcmp(a, "--weight-decay")) { if (!arg_double(cmd, a, v, 0, 10, &o.weight_decay)) return 2; }
        else if (!strcmp(a, "--warmup")) { if (!arg_double(cmd, a, v, 0, 1, &o.warmup_ratio)) return 2; }
        else if (!strcmp(a, "--grad-clip")) { if (!arg_double(cmd, a, v, 0, 1e9, &o.grad_clip)) return 2; }
        else if (!strcmp(a, "--eval-every")) { if (!arg_long(cmd, a, v, 1, 1000000000, &o.eval_every)) return 2; }
        else if (!strcmp(a, "--patience")) { if (!arg_long(cmd, a, v, 0, 1000000, &n)) return 2; o.patience = (int)n; }
        else if (!strcmp(a, "--max-seconds")) { if (!arg_double(cmd, a, v, 0, 1e9, &o.max_seconds)) return 2; }
        else if (!strcmp(a, "--max-train-examples")) { if (!arg_long(cmd, a, v, 1, 1000000000, &o.max_train_examples)) return 2; }
        else if (!strcmp(a, "--max-dev-examples")) { if (!arg_long(cmd, a, v, 1, 1000000000, &o.max_dev_examples)) return 2; }
        else if (!strcmp(a, "--checkpoint-every")) { if (!arg_long(cmd, a, v, 1, 1000000000, &o.checkpoint_every)) return 2; }
        else if (!strcmp(a, "--on-nan")) {
            if (strcmp(v, "abort") && strcmp(v, "skip")) {
                fprintf(stderr, "adapt train: --on-nan must be abort or skip\n");
                return 2;
            }
            o.on_nan_skip = !strcmp(v, "skip");
        }
        else if (!strcmp(a, "--seed")) { if (!arg_long(cmd, a, v, 0, 0x7fffffff, &n)) return 2; o.seed = (uint64_t)n; }
        else {
            fprintf(stderr, "adapt train: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.model_dir || !o.train_file || !o.out_dir) {
        usage(stderr);
        return 2;
    }
    if (trainer_run(&o)) return cli_report_error(cmd);
    return 0;
}
