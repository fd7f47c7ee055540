/* adapt train — fine-tune on NER or a GLUE-style task (classification or regression) with an
 * adapter, LoRA or a baseline. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/train_args.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: adapt train --model DIR --train FILE [--dev FILE] --output DIR [options]\n"
            "  --task ner|sst2|cola|mrpc|rte|stsb|tsv|...|mlm   (default ner: CoNLL token<TAB>tag files; tsv:\n"
            "                            any header layout, labels collected; mlm: raw text; --train repeatable)\n"
            "  --regression              task tsv: the label is a number; trains a regression head (AdapterHub's\n"
            "                            classification head with one output, MSE loss; dev metric Pearson). stsb\n"
            "                            is regression already\n"
            "  --format auto|conll|tsv|jsonl  format of --train and --dev (default auto: .jsonl / .jsonl.xz are\n"
            "                            JSON Lines, {\"text\", \"text_pair\", \"label\"} or {\"tokens\", \"tags\"})\n"
            "  --train-layer-norms       the new adapter gets its own copies of the LayerNorms at its points,\n"
            "                            trained and saved with it (Houlsby et al.; default: the model's, frozen)\n"
            "  --tokenizer PATH          tokenizer.json or folder (default: the model folder)\n"
            "  --method adapter|lora|full|head|topk|fusion   (default adapter)\n"
            "  --fusion a,b,c            train an AdapterFusion over adapters loaded with --load-adapter (frozen);\n"
            "                            sets --method fusion; saved with the head in OUT/best/NAME/\n"
            "  --fusion-config STR       dynamic (default), static, \"dynamic[temperature=true]\"\n"
            "  --fusion-train-adapters   unfreeze the fused adapters too (saved in OUT/best/<adapter>/)\n"
            "  --adapter-config STR      e.g. seq_bn, double_seq_bn, \"seq_bn[reduction_factor=16]\", prefix tuning:\n"
            "                            \"prefix_tuning[prefix_length=10,bottleneck_size=64]\", prefix_tuning_flat;\n"
            "                            unions: mam, \"prefix_tuning|par_bn\"\n"
            "  --name NAME               adapter and head name (default: the task)\n"
            "  --load-adapter DIR[=NAME] load a frozen AdapterHub adapter (repeatable)\n"
            "  --setup STR               composition to train in, e.g. \"Stack(en, ner)\"; several separated\n"
            "                            by ';' are used in turn, one step each (evaluation uses the first);\n"
            "                            with as many --train files, file i trains under the i-th: e.g.\n"
            "                            --train en.conll --train qu-silver.conll --setup \"Stack(en, ner);Stack(qu, ner)\"\n"
            "                            (each batch from one file, the files' batches interleaved by size)\n"
            "  --top-k N  --lora-r N  --lora-alpha X  --max-length N (128)\n"
            "  --lora-targets LIST       --method lora: PEFT's target_modules, comma-separated (query,value); embedding\n"
            "                            tables too (word_embeddings, position_embeddings, token_type_embeddings)\n"
            "  --lora-dropout P          --method lora: PEFT's lora_dropout on the LoRA's input while training (0)\n"
            "  --dora                    --method lora: DoRA (PEFT's use_dora), a learnt magnitude per output row\n"
            "  --ia3                     --method lora: (IA)^3 instead (AdapterHub's IA3Config: key, value and\n"
            "                            intermediate outputs times learnt scales), saved in AdapterHub's layout\n"
            "  --ia3-peft                --method lora: (IA)^3 as PEFT's IA3Config for BERT / RoBERTa (key and value\n"
            "                            outputs, attention.output.dense and output.dense inputs), in PEFT's layout\n");
    train_options d;
    train_options_defaults(&d);
    print_train_options_help(fp, &d);
    fprintf(fp, "Writes OUT/best/ (the best checkpoint by the dev metric), OUT/summary.json, OUT/curve.svg and\n"
                "OUT/losses.tsv (step, loss of each optimizer step at full precision).\n"
                "Data-parallel: `mpirun -np N adapt-mpi train ...` (the same options; each process a slice of\n"
                "every batch, the gradients summed: docs/data-parallel.md).\n");
}

/* The options only `adapt train` has: 1 handled, 0 unknown, -1 bad value. */
static int parse_own_option(const char *a, const char *v, train_options *o)
{
    const char *cmd = "train";
    long n;
    if (!strcmp(a, "--model")) o->model_dir = v;
    else if (!strcmp(a, "--task")) o->task = v;
    else if (!strcmp(a, "--name")) o->name = v;
    else if (!strcmp(a, "--adapter-config")) o->adapter_config = v;
    else if (!strcmp(a, "--setup")) o->setup = v;
    else if (!strcmp(a, "--fusion")) o->fusion = v, o->method = METHOD_FUSION;
    else if (!strcmp(a, "--fusion-config")) o->fusion_config = v;
    else if (!strcmp(a, "--format")) {
        if (data_format_parse(v, &o->format)) {
            fprintf(stderr, "adapt train: %s\n", adapt_error());
            return -1;
        }
    }
    else if (!strcmp(a, "--load-adapter")) {
        if (o->n_load == TRAIN_MAX_LOADED) {
            fprintf(stderr, "adapt train: at most %d --load-adapter\n", TRAIN_MAX_LOADED);
            return -1;
        }
        o->load_adapters[o->n_load++] = v;
    } else if (!strcmp(a, "--method")) {
        static const char *names[] = {"adapter", "lora", "full", "head", "topk", "fusion"};
        int k = -1;
        for (int j = 0; j < 6; j++)
            if (!strcmp(v, names[j])) k = j;
        if (k < 0) {
            fprintf(stderr, "adapt train: --method must be adapter, lora, full, head, topk or fusion\n");
            return -1;
        }
        o->method = (train_method)k;
    }
    else if (!strcmp(a, "--top-k")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_TOP_K, &n)) return -1; o->top_k = (int)n; }
    else if (!strcmp(a, "--lora-r")) { if (!bounded_long(cmd, a, v, TRAIN_BOUND_LORA_R, &n)) return -1; o->lora_r = (int)n; }
    else if (!strcmp(a, "--lora-alpha")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_LORA_ALPHA, &o->lora_alpha)) return -1; }
    else if (!strcmp(a, "--lora-targets")) o->lora_targets = v;
    else if (!strcmp(a, "--lora-dropout")) { if (!bounded_double(cmd, a, v, TRAIN_BOUND_LORA_DROPOUT, &o->lora_dropout)) return -1; }
    else return 0;
    return 1;
}

int cmd_train(int argc, char **argv)
{
    train_options o;
    train_options_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
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
        if (!strcmp(a, "--dora")) {
            o.lora_dora = true;
            continue;
        }
        if (!strcmp(a, "--ia3") || !strcmp(a, "--ia3-peft")) {
            o.lora_ia3 = true;
            o.lora_ia3_peft |= !strcmp(a, "--ia3-peft");
            continue;
        }
        int k = parse_train_option("train", argc, argv, &i, &o);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "adapt train: %s needs a value\n", a);
            return 2;
        }
        if ((k = parse_own_option(a, argv[i + 1], &o)) < 0) return 2;
        if (k == 0) {
            fprintf(stderr, "adapt train: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!o.model_dir || !o.n_train_files || !o.out_dir) {
        usage(stderr);
        return 2;
    }
    if (trainer_run(&o)) return cli_report_error("train");
    return 0;
}
