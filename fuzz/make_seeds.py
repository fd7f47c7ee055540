#!/usr/bin/env python3
"""Rebuilds fuzz/corpus/ (the committed seed inputs): small copies and cuts of the shared fixtures
and data, hand-written edge cases, and the model / safetensors seeds of fuzz/seedgen.c (run by
scripts/fuzz.sh --seeds, which passes the seedgen binary). Keep the total under 2 MB."""
import json, lzma, os, shutil, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("ADAPT_SHARED", os.path.join(ROOT, "..", "shared"))
FIX = os.path.join(SHARED, "fixtures")
DATA = os.path.join(SHARED, "data")
OUT = os.path.join(ROOT, "fuzz", "corpus")
SEP = b"\n--ADAPT-FILE--\n"


def put(target, name, data, sel=None):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if sel is not None:
        data = bytes([sel]) + data
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def rd(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()


def head_lines(path, n):
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(n))


def dora_seed(cfg, st):
    """c10's LoRA as a DoRA: use_dora on, a magnitude vector of ones per LoRA factor pair."""
    cfg = json.loads(cfg)
    cfg["use_dora"] = True
    n = int.from_bytes(st[:8], "little")
    header, body = json.loads(st[8:8 + n]), st[8 + n:]
    meta = header.pop("__metadata__", None)
    extra = b""
    for key in sorted(k for k in header if k.endswith(".lora_B.weight")):
        rows = header[key]["shape"][0]
        name = key[: -len(".lora_B.weight")] + ".lora_magnitude_vector"
        start = len(body) + len(extra)
        header[name] = {"dtype": "F32", "shape": [rows], "data_offsets": [start, start + 4 * rows]}
        extra += b"\x00\x00\x80\x3f" * rows  # 1.0f, little-endian
    if meta is not None:
        header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return json.dumps(cfg, indent=1).encode() + SEP + len(text).to_bytes(8, "little") + text + body + extra


def ia3_seed():
    """PEFT's default IA3 for BERT on the tiny BERT (hidden 32, FFN 64, 2 layers): key and value
    outputs [32, 1], attention.output.dense [1, 32] and output.dense [1, 64] inputs, all ones."""
    cfg = {"peft_type": "IA3", "target_modules": ["key", "value", "output.dense"], "feedforward_modules": ["output.dense"],
           "exclude_modules": None, "fan_in_fan_out": False, "modules_to_save": None, "task_type": None}
    header, body = {}, b""
    for layer in range(2):
        for module, shape in (("attention.self.key", [32, 1]), ("attention.self.value", [32, 1]),
                              ("attention.output.dense", [1, 32]), ("output.dense", [1, 64])):
            count = shape[0] * shape[1]
            header["base_model.model.bert.encoder.layer.%d.%s.ia3_l" % (layer, module)] = {
                "dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + 4 * count]}
            body += b"\x00\x00\x80\x3f" * count  # 1.0f, little-endian
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return json.dumps(cfg, indent=1).encode() + SEP + len(text).to_bytes(8, "little") + text + body


def renamed_safetensors(st, rename):
    """A safetensors file with its tensor names passed through rename (None: the tensor dropped)."""
    n = int.from_bytes(st[:8], "little")
    header, body = json.loads(st[8:8 + n]), st[8 + n:]
    out, data = {}, b""
    for k, v in header.items():
        if k == "__metadata__" or rename(k) is None:
            continue
        begin, end = v["data_offsets"]
        out[rename(k)] = dict(v, data_offsets=[len(data), len(data) + end - begin])
        data += body[begin:end]
    body = data
    text = json.dumps(out).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def hub_seeds(cfg_json, st):
    """c10's LoRA in AdapterHub's layout, and AdapterHub's IA3Config (k, v, intermediate) of ones."""
    c = json.loads(cfg_json)
    hub_cfg = {"config": {"architecture": "lora", "r": c["r"], "alpha": c["lora_alpha"], "attn_matrices": ["q", "v"],
                          "selfattn_lora": True, "intermediate_lora": False, "output_lora": False, "composition_mode": "add",
                          "init_weights": "lora", "leave_out": [], "dropout": 0.0, "use_gating": False},
               "hidden_size": 32, "model_name": "tiny-bert", "model_type": "bert", "name": "ner", "version": "adapters.1.1.0"}
    rename = lambda k: None if "lora_" not in k else k.replace("base_model.model.", "").replace(".lora_A.weight", ".loras.ner.lora_A").replace(".lora_B.weight", ".loras.ner.lora_B")
    lora = json.dumps(hub_cfg, indent=1).encode() + SEP + renamed_safetensors(st, rename)
    header, body = {}, b""
    for layer in range(2):
        for module, rows in (("attention.self.key", 32), ("attention.self.value", 32), ("intermediate.dense", 64)):
            header["bert.encoder.layer.%d.%s.loras.ia.lora_B" % (layer, module)] = {
                "dtype": "F32", "shape": [rows, 1], "data_offsets": [len(body), len(body) + 4 * rows]}
            body += b"\x00\x00\x80\x3f" * rows
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    ia3 = json.dumps({"config": "ia3", "name": "ia", "hidden_size": 32}).encode() + SEP + len(text).to_bytes(8, "little") + text + body
    return lora, ia3


def prefix_seeds():
    """AdapterHub prefix tunings on the tiny BERT (hidden 32, 2 layers): the MLP form (prefix_length 2,
    bottleneck 4, layer 1 left out; wte also under PyTorch's per-layer pool name) and the flat form."""
    def st_file(tensors):
        header, body = {}, b""
        for name, shape in tensors:
            count = 1
            for d in shape:
                count *= d
            header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + 4 * count]}
            body += b"\x00\x00\x00\x3d" * count  # 0.03125f, little-endian
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        return len(text).to_bytes(8, "little") + text + body
    base = "bert.prefix_tuning.prefix_tunings.pt.self_prefix."
    pool = "bert.encoder.layer.0.attention.self.prefix_tuning.pool.prefix_tunings.pt.self_prefix."
    cfg = {"architecture": "prefix_tuning", "prefix_length": 2, "bottleneck_size": 4, "non_linearity": "tanh", "flat": False,
           "leave_out": [1], "dropout": 0.0, "encoder_prefix": True, "cross_prefix": True, "use_gating": False, "shared_gating": True}
    mlp = st_file([(pool + "wte.weight", [2, 32]), (base + "wte.weight", [2, 32]), (base + "control_trans.0.weight", [4, 32]),
                   (base + "control_trans.0.bias", [4]), (base + "control_trans.2.weight", [64, 4]), (base + "control_trans.2.bias", [64])])
    flat_cfg = {"architecture": "prefix_tuning", "prefix_length": 2, "flat": True}
    flat = st_file([(base + "control_trans", [2 * 2 * 2 * 32])])
    wrap = lambda c: json.dumps({"config": c, "name": "pt", "hidden_size": 32, "version": "adapters.1.2.0"}, indent=1).encode()
    return wrap(cfg) + SEP + mlp, wrap(flat_cfg) + SEP + flat


def peft_prefix_seed():
    """PEFT's prefix tuning for the tiny BERT: prompt_embeddings [2 tokens, 2 layers x 2 x 32]."""
    cfg = {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 2, "token_dim": 32, "num_layers": 2, "num_attention_heads": 4,
           "num_transformer_submodules": 1, "prefix_projection": False, "inference_mode": True, "task_type": "TOKEN_CLS"}
    count = 2 * 2 * 2 * 32
    header = {"prompt_embeddings": {"dtype": "F32", "shape": [2, 128], "data_offsets": [0, 4 * count]}}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return json.dumps(cfg, indent=1).encode() + SEP + len(text).to_bytes(8, "little") + text + b"\x00\x00\x00\x3d" * count


def union_seed(prefix_seed, par_cfg, par_st):
    """A Mix-and-Match union: the MLP prefix seed's tensors plus c05's parallel adapter renamed to "pt"."""
    prefix_cfg, prefix_st = prefix_seed.split(SEP)
    def parts(st):
        n = int.from_bytes(st[:8], "little")
        return json.loads(st[8:8 + n]), st[8 + n:]
    header, body = parts(prefix_st)
    par_header, par_body = parts(par_st)
    old = json.loads(par_cfg)["name"]
    for k, v in par_header.items():
        if k == "__metadata__":
            continue
        begin, end = v["data_offsets"]
        header[k.replace(".adapters.%s." % old, ".adapters.pt.")] = dict(v, data_offsets=[len(body), len(body) + end - begin])
        body += par_body[begin:end]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    cfg = json.loads(prefix_cfg)
    cfg["config"] = {"architecture": "union", "configs": [cfg["config"], dict(json.loads(par_cfg)["config"], architecture=None)]}
    return json.dumps(cfg, indent=1).encode() + SEP + len(text).to_bytes(8, "little") + text + body


def embedding_seed(cfg, st):
    """c10's LoRA with the word table targeted too: lora_embedding_A [r, 512], lora_embedding_B [32, r]."""
    cfg = json.loads(cfg)
    cfg["target_modules"] = list(cfg["target_modules"]) + ["word_embeddings"]
    n = int.from_bytes(st[:8], "little")
    header, body = json.loads(st[8:8 + n]), st[8 + n:]
    for name, shape in (("lora_embedding_A", [cfg["r"], 512]), ("lora_embedding_B", [32, cfg["r"]])):
        count = shape[0] * shape[1]
        header["base_model.model.bert.embeddings.word_embeddings." + name] = {
            "dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + 4 * count]}
        body += b"\x00\x00\x00\x3d" * count  # 0.03125f, little-endian
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return json.dumps(cfg, indent=1).encode() + SEP + len(text).to_bytes(8, "little") + text + body


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    if len(sys.argv) > 1:  # the seedgen binary
        subprocess.run([sys.argv[1], OUT], check=True)
    cases = os.path.join(FIX, "cases")

    # safetensors: small fixture files
    put("safetensors", "c03_model_head.safetensors", rd(cases, "c03_seq_bn_tagging/adapter_ner/model_head.safetensors"))
    put("safetensors", "c09_classifier.safetensors", rd(cases, "c09_full_finetune_tagging/classifier.safetensors"))
    put("safetensors", "c05_inputs.safetensors", rd(cases, "c05_par_bn_tagging/inputs.safetensors"))
    put("safetensors", "empty_header.safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00{}")

    # config.json
    for m in ("tiny-bert", "tiny-xlmr", "hf-roberta-sharded"):
        put("hf_config", m + ".json", rd(FIX, "models", m, "config.json"))

    # adapter / fusion config objects and whole AdapterHub folders
    adapters = [("c03", "c03_seq_bn_tagging/adapter_ner"), ("c04", "c04_double_seq_bn_classification/adapter_cls"),
                ("c05", "c05_par_bn_tagging/adapter_par"), ("c06", "c06_madx_lang_adapter_mlm/adapter_qu"),
                ("c07", "c07_madx_stack_tagging/adapter_ner")]
    for tag, d in adapters:
        cfg = rd(cases, d, "adapter_config.json")
        put("adapter_config", tag + "_bn.json", json.dumps(json.loads(cfg)["config"], indent=1), sel=0)
        st = rd(cases, d, "adapter.safetensors")
        rob = 8 if b'"roberta.' in st[:4096] else 0
        put("adapterhub", tag + "_adapter", cfg + SEP + st, sel=0 | rob)
        if os.path.exists(os.path.join(cases, d, "head_config.json")):
            put("adapterhub", tag + "_head", rd(cases, d, "head_config.json") + SEP + rd(cases, d, "model_head.safetensors"), sel=1 | rob)
    put("adapter_config", "legacy_gelu.json", '{"mh_adapter": true, "output_adapter": true, "reduction_factor": {"0": 2, "default": 16},'
        ' "non_linearity": "gelu", "original_ln_before": false, "original_ln_after": true, "residual_before_ln": "post_add",'
        ' "adapter_residual_before_ln": false, "ln_before": true, "ln_after": false, "scaling": "channel", "leave_out": [1, 3],'
        ' "init_weights": "mam", "is_parallel": true, "inv_adapter": "nice", "inv_adapter_reduction_factor": 2}', sel=1)
    fcfg = rd(cases, "c08_fusion/fusion/adapter_fusion_config.json")
    put("adapter_config", "c08_fusion.json", json.dumps(json.loads(fcfg)["config"], indent=1), sel=2)
    put("adapterhub", "c08_fusion", fcfg + SEP + rd(cases, "c08_fusion/fusion/model_adapter_fusion.safetensors"), sel=2)
    prefix_mlp, prefix_flat = prefix_seeds()
    put("adapterhub", "prefix_tuning", prefix_mlp, sel=0)
    put("adapterhub", "prefix_tuning_flat", prefix_flat, sel=4)
    put("adapterhub", "peft_prefix_tuning", peft_prefix_seed(), sel=0)
    put("adapterhub", "mam_union", union_seed(prefix_mlp, rd(cases, "c05_par_bn_tagging/adapter_par/adapter_config.json"),
                                              rd(cases, "c05_par_bn_tagging/adapter_par/adapter.safetensors")), sel=0)

    # PEFT LoRA folders (first byte: 1 merge + unmerge, 2 save, 8 an XLM-R model)
    lora = rd(cases, "c10_lora_tagging/lora/adapter_config.json") + SEP + rd(cases, "c10_lora_tagging/lora/adapter_model.safetensors")
    put("peft", "c10_lora", lora, sel=3)
    put("peft", "c10_lora_on_xlmr", lora, sel=8)
    patterned = json.loads(rd(cases, "c10_lora_tagging/lora/adapter_config.json"))
    patterned.update(rank_pattern={"query": 4}, alpha_pattern={"layer.1.attention.self.value": 16}, layers_to_transform=[0, 1],
                     layers_pattern="layer")
    put("peft", "c10_patterns", json.dumps(patterned, indent=1).encode() + SEP + rd(cases, "c10_lora_tagging/lora/adapter_model.safetensors"),
        sel=1 | 2)
    put("peft", "c10_dora", dora_seed(rd(cases, "c10_lora_tagging/lora/adapter_config.json"),
                                      rd(cases, "c10_lora_tagging/lora/adapter_model.safetensors")), sel=1 | 4 | 16)
    put("peft", "ia3_bert_defaults", ia3_seed(), sel=1 | 2 | 4)
    put("peft", "c10_lora_embeddings", embedding_seed(rd(cases, "c10_lora_tagging/lora/adapter_config.json"),
                                                      rd(cases, "c10_lora_tagging/lora/adapter_model.safetensors")), sel=1 | 2)
    hub_lora, hub_ia3 = hub_seeds(rd(cases, "c10_lora_tagging/lora/adapter_config.json"),
                                  rd(cases, "c10_lora_tagging/lora/adapter_model.safetensors"))
    put("peft", "hub_lora", hub_lora, sel=32 | 1 | 2)
    put("peft", "hub_ia3", hub_ia3, sel=32 | 1 | 4 | 16)

    # config strings (first byte: 0 = adapter, 1 = fusion, 2 = prefix tuning)
    for i, s in enumerate(["seq_bn", "pfeiffer[reduction_factor=8, non_linearity=gelu]", "double_seq_bn_inv",
                           "par_bn[scaling='channel', leave_out=[0, 1], reduction_factor={'0': 2, 'default': 4}]",
                           "scaled_parallel[is_parallel=True, inv_adapter=None, dropout=0.1]", "houlsby+inv",
                           "seq_bn[init_weights=\"mam\", residual_before_ln='post_add']"]):
        put("config_string", "bn_%d" % i, s, sel=0)
    for i, s in enumerate(["dynamic", "static", "dynamic[temperature=true, dropout_prob=0.1]", "static[value=True,query_before_ln=False]"]):
        put("config_string", "fusion_%d" % i, s, sel=1)
    put("config_string", "prefix_tuning", "prefix_tuning[prefix_length=10,leave_out=[1],non_linearity=relu]", sel=2)
    put("config_string", "prefix_tuning_flat", "prefix_tuning_flat", sel=2)
    put("config_string", "mam", "mam", sel=2)
    put("config_string", "union", "seq_bn[reduction_factor=8,leave_out=[0]]|prefix_tuning[prefix_length=3,bottleneck_size=16]", sel=2)

    # composition strings
    for i, s in enumerate(["ner", "Stack(qu, ner)", "Stack(qu, Fuse(sst2, cola, mrpc))", "Fuse(a,b,c)",
                           "BatchSplit(x, y, batch_sizes=[2, 1])", "Average(a, b, weights=[0.3, 0.7])",
                           "stack(en, batchsplit(a, Stack(b, c), batch_sizes=[1,3]))", "Parallel(a, b)"]):
        put("composition", "c%d" % i, s)

    # data readers
    ner = os.path.join(DATA, "ner", "wikiann-en", "dev.conll")
    conll = head_lines(ner, 40)
    put("conll", "wikiann_iob2", conll, sel=0)
    put("conll", "iob1", b"-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n", sel=1)
    put("conll", "plain_tokens_only", b"The\tDT\ncat\tNN\n\nsat\tVBD\n", sel=2 | 4)
    for task in ("CoLA", "MRPC", "RTE", "SST-2"):
        idx = {"CoLA": 1, "MRPC": 2, "RTE": 3, "SST-2": 0}[task]
        put("glue", task, head_lines(os.path.join(DATA, "glue", task, "dev.tsv"), 12), sel=idx)
    put("glue", "stsb", b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        b"0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n", sel=8)
    put("glue", "tsv_regression", b"text\ttext_pair\tlabel\nfoo\tbar\t0.5\nbaz\tqux\t-1e3\n", sel=9 | 32)
    put("jsonl", "classification", b'{"text": "great film", "label": "pos"}\n{"text": "bad", "text_pair": "x", "label": "neg"}\n\n', sel=0)
    put("jsonl", "int_labels", b'{"text": "a", "label": 3}\n{"text": "b", "label": 10}\n', sel=0)
    put("jsonl", "regression", b'{"text": "a", "label": 0.75}\n{"text": "b", "label": -2}\n', sel=1)
    put("jsonl", "tagging", b'{"tokens": ["EU", "rejects", "German"], "tags": ["B-ORG", "O", "B-MISC"]}\n'
        b'{"tokens": ["Peter"], "ner_tags": ["I-PER"]}\n', sel=4)
    text = head_lines(os.path.join(DATA, "text", "qu.txt"), 20)
    put("text_reader", "plain_lines", text, sel=0)
    put("text_reader", "documents", b"\xef\xbb\xbfline one\r\nline two\n\n  \nsecond doc\n", sel=1)
    put("text_reader", "xz_lines", lzma.compress(text, format=lzma.FORMAT_XZ), sel=0)
    put("text_reader", "xz_two_streams", lzma.compress(b"a\nb\n") + lzma.compress(b"c\n\nd\n"), sel=1)

    # tokenizers: cut-down copies of the fixtures (small vocabularies keep loading fast)
    texts = [json.loads(l) for l in rd(FIX, "tokenizers", "texts.jsonl").decode().splitlines()[:3]]
    texts = [t if isinstance(t, str) else t.get("text", "") for t in texts]
    sample = (texts[0] if texts else "Hello, world!").encode()
    for name, keep in (("wordpiece-cased", 300), ("bert-base-uncased", 300), ("bytelevel-bpe", 400), ("unigram-xlmr", 300)):
        tj = json.loads(rd(FIX, "tokenizers", name, "tokenizer.json"))
        model = tj["model"]
        if isinstance(model.get("vocab"), dict):
            items = sorted(model["vocab"].items(), key=lambda kv: kv[1])
            if model.get("type") == "BPE":
                # keep ids < keep plus every token a kept merge produces
                vocab = dict(items[:keep])
                merges = []
                for mg in model.get("merges", []):
                    a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
                    if a in vocab and b in vocab and a + b in vocab:
                        merges.append(mg)
                model["merges"] = merges
                model["vocab"] = vocab
            else:
                model["vocab"] = dict(items[:keep])
        elif isinstance(model.get("vocab"), list):
            model["vocab"] = model["vocab"][:keep]
            if isinstance(model.get("unk_id"), int) and model["unk_id"] >= keep:
                model["unk_id"] = 0
        tj["added_tokens"] = [t for t in tj.get("added_tokens", []) if t["id"] < keep]
        tj["normalizer"] = drop_precompiled(tj.get("normalizer"))
        put("tokenizer", name, json.dumps(tj, ensure_ascii=False).encode() + SEP + sample + SEP + b"a pair", sel=0 | 4)
    vocab = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "sat", "on", "mat", ".", "a", "##b"]) + "\n"
    put("tokenizer", "vocab_txt", vocab.encode() + SEP + b"The cats sat on the mat." + SEP + b"ab", sel=1 | 4)
    put("tokenizer", "spm_model", spm_cut(rd(FIX, "tokenizers", "unigram-xlmr", "sentencepiece.bpe.model"), 300) + SEP + sample, sel=2 | 4)


def drop_precompiled(norm):
    """The XLM-R charsmap alone is ~300 kB: seeds use NFKC in its place."""
    if isinstance(norm, dict):
        if norm.get("type") == "Precompiled":
            return {"type": "NFKC"}
        if norm.get("type") == "Sequence":
            norm["normalizers"] = [drop_precompiled(n) for n in norm["normalizers"]]
    return norm


def fields(b):
    """(field number, raw bytes of the whole field) for each field of a protobuf message."""
    i = 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        wt = key & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            ln, i = varint(b, i)
            i += ln
        else:
            raise ValueError("wire type %d" % wt)
        yield key >> 3, key & 7, b[start:i]


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if c < 0x80:
            return v, i


def spm_cut(model, keep):
    """Keeps the first `keep` pieces (field 1) of a SentencePiece ModelProto and the other fields,
    minus the precompiled charsmap (NormalizerSpec field 2)."""
    out, n = bytearray(), 0
    for num, wt, raw in fields(model):
        if num == 1:
            n += 1
            if n > keep:
                continue
        if num == 3 and wt == 2:  # normalizer_spec
            _, i = varint(raw, 0)
            ln, i = varint(raw, i)
            body = b"".join(r for f, w, r in fields(raw[i:i + ln]) if f != 2)
            raw = enc_varint((3 << 3) | 2) + enc_varint(len(body)) + body
        out += raw
    return bytes(out)


if __name__ == "__main__":
    main()
