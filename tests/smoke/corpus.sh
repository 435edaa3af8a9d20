#!/usr/bin/env bash
# Smoke run of the corpus pipeline: a SentencePiece vocabulary trained once and shared, a diffusion
# model and its autoregressive twin, dtrain --eval for both, generation from both, and the
# tokenizer tools on a run, a SentencePiece model and GPT-2's files. KIND=byte (the sanitizer build,
# where SentencePiece cannot be opened) runs everything else with the byte tokenizer.
set -u
DTRAIN=$1 DGEN=$2 SMOKE=$3 WORK=$4 KIND=${5:-sentencepiece}
. "$SMOKE/lib.sh"
GPT2="$SMOKE/../../data/gpt2"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
sed "s/\"sentencepiece\"/\"$KIND\"/" "$SMOKE/corpus.json" > corpus.json
# Five documents of made-up prose, one per line; the last one and a bit are held out.
for i in 1 2 3 4 5; do
  line="Address $i. The state of the union is strong, and the work of $i years is before us."
  for j in 1 2 3 4 5 6; do line="$line We will build roads, schools and ports number $((i * j)) together."; done
  printf '{"text": "%s"}\n' "$line"
done > corpus.jsonl

"$DTRAIN" --config corpus.json --run-dir runs/diffusion --progress plain 2> diffusion.log || fail "dtrain diffusion: $(tail -3 diffusion.log)"
if [ "$KIND" = sentencepiece ]; then grep -q "tokenizer: training" diffusion.log || fail "no tokenizer trained"; fi
"$DTRAIN" --config corpus.json --run-dir runs/ar --set objective=ar --progress plain 2> ar.log || fail "dtrain ar: $(tail -3 ar.log)"
if [ "$KIND" = sentencepiece ]; then grep -q "tokenizer: reusing" ar.log || fail "the ar run did not reuse the trained tokenizer"; fi
[ "$(ls runs/.token-cache/*.tok | wc -l)" -eq 1 ] || fail "the ar run did not reuse the token cache: $(ls runs/.token-cache)"
grep -q "causal transformer" ar.log || fail "the ar run is not causal"

out=$("$DTRAIN" --eval runs/diffusion --eval-json diffusion_eval.json) || fail "eval diffusion"
for want in "nats/token (bound)" "bits/byte (bound)" "perplexity (bound)" "noise level" "100%"; do
  echo "$out" | grep -qF "$want" || fail "diffusion eval lacks '$want': $out"
done
grep -q '"nats_per_token"' diffusion_eval.json || fail "no eval json"
again=$("$DTRAIN" --eval runs/diffusion | grep "nats/token")
[ "$again" = "$(echo "$out" | grep "nats/token")" ] || fail "the bound is not reproducible with the same seed"
other=$("$DTRAIN" --eval runs/diffusion --set eval.seed=99 | grep "nats/token")
[ "$other" != "$again" ] || fail "eval.seed changes nothing"
out=$("$DTRAIN" --eval runs/ar) || fail "eval ar"
echo "$out" | grep -q "^  perplexity " || fail "ar eval lacks perplexity: $out"

gen=$("$DGEN" --checkpoint runs/ar --prefix "Address" --length 8 --format jsonl --seed 3) || fail "dgen ar"
echo "$gen" | grep -q '"objective":"ar"' || fail "not an ar sample: $gen"
echo "$gen" | grep -q '"text":"Address' || fail "ar sample lost its prefix: $gen"
for s in linear cosine exponential; do
  "$DGEN" --checkpoint runs/diffusion --prefix "Address 2. The" --length 12 --schedule "$s" --format jsonl \
    | grep -q '"text":"Address 2. The' || fail "diffusion sample with $s"
done

text="The state of the union, 1790-2021."
ids=$(printf '%s' "$text" | "$DGEN" --tokenize --tokenizer runs/diffusion) || fail "tokenize"
echo "$ids" | grep -q '"pieces"' || fail "tokenize prints no pieces: $ids"
back=$(echo "$ids" | "$DGEN" --detokenize --tokenizer runs/diffusion) || fail "detokenize"
[ "$back" = "$text" ] || fail "round trip through a run's tokenizer: $back"
back=$(echo "$ids" | "$DGEN" --detokenize --tokenizer runs/diffusion --format jsonl)
[ "$back" = "{\"text\":\"$text\"}" ] || fail "detokenize as JSON: $back"
if [ "$KIND" = sentencepiece ]; then
  model=$(ls runs/.token-cache/spm-*/tokenizer.model | head -1)
  [ "$(printf '%s' "$text" | "$DGEN" --tokenize --tokenizer "$model")" = "$ids" ] || fail "the .model and the run disagree"
fi
gpt2=$(printf 'Hello world' | "$DGEN" --tokenize --tokenizer "$GPT2") || fail "tokenize gpt2"
[ "$gpt2" = '{"ids":[15496,995],"pieces":["Hello"," world"]}' ] || fail "gpt2 ids: $gpt2"
echo "smoke corpus: ok"
