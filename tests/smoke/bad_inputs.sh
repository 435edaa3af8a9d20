#!/usr/bin/env bash
# Bad input must give a non-zero exit and one clear line naming the problem, never a crash.
set -u
DTRAIN=$1 DGEN=$2 SMOKE=$3 WORK=$4
. "$SMOKE/lib.sh"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
cp "$SMOKE/tiny.txt" tiny.txt
cfg() { printf '%s' "$2" > "$1"; }

cfg malformed.json '{"data": {"path": "tiny.txt",}}'
expect_fail 'malformed.json: malformed JSON' "$DTRAIN" --config malformed.json
cfg unknown.json '{"data": {"path": "tiny.txt"}, "model": {"d_modle": 8}}'
expect_fail "unknown config key 'model.d_modle'" "$DTRAIN" --config unknown.json
cfg wrongtype.json '{"data": {"path": "tiny.txt"}, "train": {"steps": "ten"}}'
expect_fail "train.steps.*expected an integer" "$DTRAIN" --config wrongtype.json
cfg heads.json '{"data": {"path": "tiny.txt"}, "model": {"d_model": 30, "n_head": 4}}'
expect_fail 'd_model \(30\) must be divisible by model.n_head \(4\)' "$DTRAIN" --config heads.json
cfg nodata.json '{"data": {"path": "missing.txt"}}'
expect_fail 'missing.txt: cannot open file' "$DTRAIN" --config nodata.json
: > empty.txt
cfg empty.json '{"data": {"path": "empty.txt"}}'
expect_fail 'no usable example' "$DTRAIN" --config empty.json
printf 'ok\ncaf\xe9\n' > latin1.txt
cfg latin1.json '{"data": {"path": "latin1.txt"}}'
expect_fail 'latin1.txt:2: invalid UTF-8' "$DTRAIN" --config latin1.json
expect_fail "unknown value 'wavy'" "$DTRAIN" --config "$SMOKE/tiny.json" --set sample.schedule=wavy
# Unknown keys at every level, wrong types, out-of-range values.
expect_fail "unknown config key 'modle'" "$DTRAIN" --config "$SMOKE/tiny.json" --set modle.d_model=3
for section in data tokenizer model diffusion sample train eval; do
  expect_fail "unknown config key '$section.bogus'" "$DTRAIN" --config "$SMOKE/tiny.json" --set "$section.bogus=1"
done
expect_fail "model.tie_head.*expected true or false" "$DTRAIN" --config "$SMOKE/tiny.json" --set model.tie_head=yes
expect_fail "diffusion.rates.*expected an array" "$DTRAIN" --config "$SMOKE/tiny.json" --set diffusion.rates=all
expect_fail "model.dropout.*expected a number" "$DTRAIN" --config "$SMOKE/tiny.json" --set 'model.dropout="high"'
expect_fail "'model': expected an object" "$DTRAIN" --config "$SMOKE/tiny.json" --set model=3
expect_fail "model.d_model' = 0: must be > 0" "$DTRAIN" --config "$SMOKE/tiny.json" --set model.d_model=0
expect_fail "model.n_layer' = -2: must be > 0" "$DTRAIN" --config "$SMOKE/tiny.json" --set model.n_layer=-2
expect_fail "diffusion.rates\[0\]' = 0: must be in \(0, 1\]" "$DTRAIN" --config "$SMOKE/tiny.json" --set 'diffusion.rates=[0, 0.5]'
expect_fail "diffusion.rates' = \[\]: needs at least one rate" "$DTRAIN" --config "$SMOKE/tiny.json" --set 'diffusion.rates=[]'
expect_fail "train.steps' = 0: must be >= 1" "$DTRAIN" --config "$SMOKE/tiny.json" --set train.steps=0
expect_fail "data.val_fraction' = 1.5" "$DTRAIN" --config "$SMOKE/tiny.json" --set data.val_fraction=1.5
expect_fail "diffusion.prefix_len' = 10: must be >= 0 and < data.seq_len" "$DTRAIN" --config "$SMOKE/tiny.json" --set diffusion.prefix_len=10
expect_fail "data.kind': unknown value 'csv' \(valid: lines, documents, pairs, text, corpus\)" "$DTRAIN" --config "$SMOKE/tiny.json" --set data.kind=csv
expect_fail "override 'model.d_model' must look like section.key=value" "$DTRAIN" --config "$SMOKE/tiny.json" --set model.d_model
expect_fail "unknown device 'tpu'|train.device' = tpu" "$DTRAIN" --config "$SMOKE/tiny.json" --device tpu
cfg array.json '[1, 2]'
expect_fail "array.json: config key '\(top level\)': expected an object" "$DTRAIN" --config array.json
: > blank.json
expect_fail "blank.json: malformed JSON" "$DTRAIN" --config blank.json
mkdir -p adir
cfg dirdata.json '{"data": {"path": "adir"}}'
expect_fail "adir: is a directory" "$DTRAIN" --config dirdata.json
cfg short.json '{"data": {"path": "tiny.txt", "seq_len": 4}}'
expect_fail "tiny.txt:[0-9]+: example needs [0-9]+ tokens .* data.seq_len is 4" "$DTRAIN" --config short.json
printf 'hello namaste
' > nosep.txt
cfg nosep.json '{"data": {"kind": "pairs", "path": "nosep.txt"}}'
expect_fail "nosep.txt:1: no separator '>'" "$DTRAIN" --config nosep.json
printf '{"text": "a"}
{"text": 
' > broken.jsonl
cfg broken.json '{"data": {"kind": "documents", "path": "broken.jsonl"}}'
expect_fail "broken.jsonl:2: malformed JSON" "$DTRAIN" --config broken.json
printf '{"body": "a"}
' > nofield.jsonl
cfg nofield.json '{"data": {"kind": "documents", "path": "nofield.jsonl"}}'
expect_fail 'nofield.jsonl:1: JSON line has no "text" field' "$DTRAIN" --config nofield.json
expect_fail "CUDA is not available" "$DTRAIN" --config "$SMOKE/tiny.json" --device cuda
expect_fail "config FILE is required" "$DTRAIN"

expect_fail "no trained run recorded" "$DGEN"
expect_fail "nope.pt: checkpoint not found" "$DGEN" --checkpoint nope.pt
"$DTRAIN" --config "$SMOKE/tiny.json" --set train.steps=2 --set train.eval_every=2 --progress plain 2>/dev/null || fail "tiny train"
head -c 2000 runs/tiny/last.pt > truncated.pt
expect_fail "truncated" "$DGEN" --checkpoint truncated.pt
expect_fail "sample.schedule': unknown value 'wavy' \(valid: linear, cosine, exponential, loglinear\)" "$DGEN" --schedule wavy
expect_fail "sample.strategy': unknown value 'best'" "$DGEN" --strategy best
expect_fail "sample.sampling': unknown value 'beam'" "$DGEN" --sampling beam
expect_fail "prefix is 12 tokens but the model's context is 10" "$DGEN" --prefix "ashaashaasha"
expect_fail "exceed the model's context" "$DGEN" --prefix "as" --length 9
expect_fail "--prefix: invalid UTF-8 \\(byte 0xFF at offset 1\\)" "$DGEN" --prefix $'a\xff'
expect_fail "not in the tokenizer's vocabulary" "$DGEN" --prefix "xyz"
expect_fail "CUDA is not available" "$DGEN" --device cuda
expect_fail "sample.steps' = 0: must be >= 1" "$DGEN" --steps 0
expect_fail "sample.temperature' = 0.0: must be > 0" "$DGEN" --temperature 0
expect_fail "sample.top_k' = 0: must be >= 1" "$DGEN" --top-k 0
expect_fail "sample.top_p' = 1.5: must be in \(0, 1\]" "$DGEN" --top-p 1.5
expect_fail "sample.top_k': expected an integer, got string \"many\"" "$DGEN" --top-k many
expect_fail "num_samples must be >= 1" "$DGEN" --num-samples 0
expect_fail "sample.threshold' = 2(.0)?: must be in \[0, 1\]" "$DGEN" --threshold 2
expect_fail "sample.kv_cache' = true: needs sample.block_length > 0" "$DGEN" --kv-cache
expect_fail "infill template: malformed span at byte 2" "$DGEN" --infill "as<mask:0>"
expect_fail "infill template is 21 tokens but the model's context is 10" "$DGEN" --infill "a<mask:20>"
expect_fail "nope.txt: cannot open the prompts file" "$DGEN" --prompts nope.txt
printf '{"prefix": "as"}\n{"prefix": 3}\n' > prompts.jsonl
expect_fail 'prompts.jsonl:2: "prefix" must be a string' "$DGEN" --prompts prompts.jsonl
expect_fail "not a readable checkpoint" "$DGEN" --checkpoint array.json
expect_fail "runs/tiny: the scorer must be an autoregressive run" "$DGEN" --score-with runs/tiny
expect_fail "nowhere.*not found" "$DGEN" --score-with nowhere
expect_fail "is a directory|has no best.pt or last.pt" "$DGEN" --checkpoint adir
# Resuming: the run must exist; a checkpoint of another shape is refused by name.
expect_fail "nowhere: no run to resume here" "$DTRAIN" --resume nowhere
expect_fail "drop --config" "$DTRAIN" --resume runs/tiny --config "$SMOKE/tiny.json"
expect_fail "tensor '.*' has shape .* in the checkpoint but" "$DTRAIN" --resume runs/tiny --set model.d_model=64 --set model.n_head=2
# Tokenizer tools: bad bytes, bad ids, bad JSON, missing or foreign tokenizer files.
GPT2="$SMOKE/../../data/gpt2"
expect_fail "standard input: invalid UTF-8 \(byte 0xE9 at offset 3\)" bash -c 'printf "caf\xe9" | "$0" --tokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "token id 99999999 is out of range" bash -c 'echo "{\"ids\": [1, 99999999]}" | "$0" --detokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "token id -1 is out of range" bash -c 'echo "[-1]" | "$0" --detokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "standard input: malformed JSON" bash -c 'echo "{\"ids\": [1," | "$0" --detokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "ids\[1\] is not an integer" bash -c 'echo "{\"ids\": [1, \"x\"]}" | "$0" --detokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "expected \{\"ids\": \[...\]\}" bash -c 'echo "{\"text\": 1}" | "$0" --detokenize --tokenizer "$1"' "$DGEN" "$GPT2"
expect_fail "tokenizer 'missing.model' does not exist" bash -c 'echo hi | "$0" --tokenize --tokenizer missing.model' "$DGEN"
# (The sanitizer build cannot open SentencePiece at all and says so, in one line.)
expect_fail "not a SentencePiece model|not available in sanitizer builds" bash -c 'echo hi | "$0" --tokenize --tokenizer "$1"' "$DGEN" tiny.txt
mkdir -p emptyvocab
expect_fail "emptyvocab" bash -c 'echo hi | "$0" --tokenize --tokenizer emptyvocab' "$DGEN"
expect_fail "--tokenizer goes with --tokenize" "$DGEN" --tokenizer "$GPT2"
# Corpus runs and evaluation.
expect_fail "model.type' = \"mlp\": the autoregressive twin needs a transformer" "$DTRAIN" --config "$SMOKE/tiny.json" --set objective=ar --set model.type=mlp
expect_fail "objective' = \"gpt\": unknown objective \\(registered: diffusion \\(noise absorbing, uniform\\), simplex, ar\\)" "$DTRAIN" --config "$SMOKE/tiny.json" --set objective=gpt
expect_fail "the corpus has 46 training tokens, fewer than one block of 64" "$DTRAIN" --config "$SMOKE/tiny.json" --set data.kind=corpus --set data.seq_len=64 --set tokenizer.kind=byte
expect_fail "nowhere: checkpoint not found" "$DTRAIN" --eval nowhere
expect_fail "with --eval only eval.\*, data.\* and train.precision can change" "$DTRAIN" --eval runs/tiny --set model.d_model=8
expect_fail "eval.t_samples' = 0: must be >= 1" "$DTRAIN" --eval runs/tiny --set eval.t_samples=0
# Hugging Face folders and the forward dump (the folders themselves: tests/test_hf_folder.cpp).
expect_fail "--dump-logits and --dump-hidden run the model over --prefix TEXT" "$DGEN" --checkpoint runs/tiny --dump-logits l.npy
expect_fail "--export-hf takes two paths" "$DTRAIN" --export-hf runs/tiny
expect_fail "no Hugging Face family fits this model \(bert: model.norm_order is not post; roberta: " "$DTRAIN" --export-hf runs/tiny hf_out
# The processes: settings one does not take, in one line naming the process.
expect_fail "diffusion.loss_on' = \"all\" does not apply to uniform noise" "$DTRAIN" --config "$SMOKE/tiny.json" --set diffusion.noise=uniform --set diffusion.loss_on=all
expect_fail "model.type' = \"mlp\": the simplex process needs a transformer" "$DTRAIN" --config "$SMOKE/tiny.json" --set objective=simplex --set model.type=mlp
expect_fail "diffusion.block_length' = 4 does not apply to absorbing noise" "$DTRAIN" --config "$SMOKE/tiny.json" --set diffusion.block_length=4
"$DTRAIN" --config "$SMOKE/tiny.json" --set objective=simplex --set train.steps=2 --set train.eval_every=2 --run-dir runs/simplex --progress plain 2>/dev/null || fail "tiny simplex train"
expect_fail "--kv-cache \(sample.kv_cache = true\) does not apply to the simplex process" "$DGEN" --checkpoint runs/simplex --kv-cache --block-length 4
expect_fail "infilling does not apply to the simplex process" "$DGEN" --checkpoint runs/simplex --infill "a<mask:2>"
expect_fail "--threshold \(sample.threshold = 0.5\) does not apply to uniform noise" "$DTRAIN" --config "$SMOKE/tiny.json" --set diffusion.noise=uniform --set sample.threshold=0.5 --run-dir runs/refused
[ ! -e runs/refused ] || fail "a refused config left runs/refused behind"
cfg nofolder.json '{"data": {"path": "tiny.txt"}, "model": {"init_from": "nofolder"}}'
expect_fail "nofolder is not a Hugging Face model folder" "$DTRAIN" --config nofolder.json
cfg notfolder.json '{"data": {"path": "tiny.txt"}, "model": {"init_from": "adir"}}'
expect_fail "adir is not a Hugging Face model folder" "$DTRAIN" --config notfolder.json
cfg beside.json '{"data": {"path": "tiny.txt"}, "model": {"init_from": "adir", "n_layer": 2}}'
expect_fail "beside.json: model.n_layer cannot be set beside model.init_from" "$DTRAIN" --config beside.json
mkdir -p binonly && printf '{"model_type": "bert"}' > binonly/config.json && : > binonly/pytorch_model.bin
expect_fail "binonly holds pytorch_model.bin but no model.safetensors" "$DGEN" --checkpoint binonly --prefix a --dump-logits l.npy
mkdir -p unigram && printf '{"model": {"type": "Unigram", "vocab": []}}' > unigram/tokenizer.json
expect_fail "unigram/tokenizer.json: model type 'Unigram' is not supported" bash -c 'echo hi | "$0" --tokenize --tokenizer unigram' "$DGEN"
mkdir -p cut && printf '{"model_type": "bert"}' > cut/config.json && printf '\x10\x27\x00\x00\x00\x00\x00\x00{"a"' > cut/model.safetensors
expect_fail "cut/model.safetensors: header length 10000 runs past the end of the file" "$DGEN" --checkpoint cut --prefix a --dump-logits l.npy
# LLaDA and Dream folders (the refusals of every key: tests/test_hf_families.cpp). st FILE HEADER BYTES
# writes a safetensors file: HEADER's length (little-endian, 8 bytes), HEADER, then BYTES zero bytes.
st() { printf "$(printf '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $((${#2} & 255)) $((${#2} >> 8)))%s" "$2" > "$1"; head -c "$3" /dev/zero >> "$1"; }
llada='"model_type": "llada", "block_type": "llama", "layer_norm_type": "rms", "activation_type": "silu", "rope": true'
llada_shape='"d_model": 8, "n_heads": 2, "n_layers": 1, "mlp_hidden_size": 8, "vocab_size": 16, "max_sequence_length": 8'
mkdir -p gpt2 && printf '{"model_type": "gpt2"}' > gpt2/config.json && st gpt2/model.safetensors '{}' 0
expect_fail "gpt2/config.json: model_type 'gpt2' is not supported \(supported: bert, roberta, modernbert, llada, Dream\)" "$DGEN" --checkpoint gpt2 --prefix a --dump-logits l.npy
mkdir -p alibi && printf '{%s, "alibi": true}' "$llada" > alibi/config.json && st alibi/model.safetensors '{}' 0
expect_fail "alibi/config.json: alibi true is not supported \(dlm builds alibi false\)" "$DGEN" --checkpoint alibi --prefix a --dump-logits l.npy
mkdir -p moe && printf '{%s}' "$llada" > moe/config.json
st moe/model.safetensors '{"model.transformer.blocks.0.experts.0.ff_out.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}' 4
expect_fail "moe: tensor 'model.transformer.blocks.0.experts.0.ff_out.weight' belongs to a mixture of experts, which dlm does not build" "$DGEN" --checkpoint moe --prefix a --dump-logits l.npy
mkdir -p noshard && printf '{%s}' "$llada" > noshard/config.json
printf '{"weight_map": {"model.transformer.wte.weight": "model-00002-of-00002.safetensors"}}' > noshard/model.safetensors.index.json
expect_fail "noshard/model.safetensors.index.json: \"weight_map\" places tensor 'model.transformer.wte.weight' in 'model-00002-of-00002.safetensors', which is missing" "$DGEN" --checkpoint noshard --prefix a --dump-logits l.npy
mkdir -p nomask && printf '{%s, %s}' "$llada" "$llada_shape" > nomask/config.json && st nomask/model.safetensors '{}' 0
expect_fail "nomask/config.json: no mask id \(mask_token_id is missing" "$DGEN" --checkpoint nomask --prefix a --dump-logits l.npy
mkdir -p lltensor && printf '{%s, %s, "mask_token_id": 1}' "$llada" "$llada_shape" > lltensor/config.json
printf '{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 1}}, "pre_tokenizer": {"type": "WhitespaceSplit"}}' > lltensor/tokenizer.json
cp -r lltensor llshape
st lltensor/model.safetensors '{"model.transformer.wte.weight": {"dtype": "F32", "shape": [16, 8], "data_offsets": [0, 512]}}' 512
expect_fail "lltensor: tensor 'model.transformer.blocks.0.attn_norm.weight' is missing \(its config.json needs it\)" "$DGEN" --checkpoint lltensor --prefix a --dump-logits l.npy
st llshape/model.safetensors '{"model.transformer.wte.weight": {"dtype": "F32", "shape": [15, 8], "data_offsets": [0, 480]}}' 480
expect_fail "llshape: tensor 'model.transformer.wte.weight' has shape \[15, 8\], but config.json implies \[16, 8\]" "$DGEN" --checkpoint llshape --prefix a --dump-logits l.npy
# Tokenizer files and --chat (the matcher and layouts themselves: tests/test_hf_regex.cpp, tests/test_chat.cpp).
mkdir -p badregex && printf '%s' '{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\bx"}, "behavior": "Isolated", "invert": false}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "x": 1}}}' > badregex/tokenizer.json
expect_fail "badregex/tokenizer.json: pre_tokenizer.pattern: unsupported regex construct '.b' at 0" bash -c 'echo x | "$0" --tokenize --tokenizer badregex' "$DGEN"
mkdir -p plaintok && printf '%s' '{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "x": 1}}}' > plaintok/tokenizer.json
expect_fail "--chat-template 'vicuna' is not a chat template \(known: llada, chatml\)" bash -c 'echo x | "$0" --tokenize --tokenizer plaintok --chat --chat-template vicuna' "$DGEN"
expect_fail "--chat: the tokenizer has no chat template" "$DGEN" --checkpoint runs/tiny --chat --prefix a
# --sampler llada and dream: their own layouts, ranges and the flags they refuse, one line each.
expect_fail "indivisible llada layout: --length 30 must be a multiple of --block-length 8 and --steps 128 of the 3 blocks" "$DGEN" --checkpoint runs/tiny --sampler llada --length 30 --block-length 8
expect_fail "indivisible llada layout: --length 32 must be a multiple of --block-length 8 and --steps 6 of the 4 blocks" "$DGEN" --checkpoint runs/tiny --sampler llada --length 32 --block-length 8 --steps 6
expect_fail "--cache does not apply to --sampler llada \(it reads --steps" "$DGEN" --checkpoint runs/tiny --sampler llada --length 8 --cache
expect_fail "--cfg-scale does not apply to --sampler dream" "$DGEN" --checkpoint runs/tiny --sampler dream --cfg-scale 1
expect_fail "--remasking does not apply to --sampler dream" "$DGEN" --checkpoint runs/tiny --sampler dream --remasking random
expect_fail "--alg does not apply to --sampler llada" "$DGEN" --checkpoint runs/tiny --sampler llada --alg entropy
expect_fail "sample.alg' = \"best\": must be origin \| maskgit_plus \| topk_margin \| entropy" "$DGEN" --checkpoint runs/tiny --sampler dream --alg best
expect_fail "sample.strategy' = \"margin\": --sampler llada takes confidence or random" "$DGEN" --checkpoint runs/tiny --sampler llada --strategy margin
expect_fail "sample.strategy' = \"origin\": Dream's rule, for --sampler dream only" "$DGEN" --checkpoint runs/tiny --strategy origin
expect_fail "--rng torch replicates torch's uniform draws only" "$DGEN" --checkpoint runs/tiny --sampler dream --rng torch
expect_fail "sample.temperature' = -1.0: must be >= 0 \(0: greedy\)" "$DGEN" --checkpoint runs/tiny --sampler llada --temperature -1
expect_fail "infilling does not apply to --sampler llada" "$DGEN" --checkpoint runs/tiny --sampler llada --length 8 --infill "a<mask:2>"
expect_fail "--sampler \(sample.sampler = \"llada\"\) does not apply to the simplex process" "$DGEN" --checkpoint runs/simplex --sampler llada --length 8
echo "bad inputs: ok ($checks of $case_index cases, part $smoke_part)"
