# The steps the KJV results scripts share (sourced by process_results.sh and minilm_results.sh, from
# the repository's root).

# eval_runs OUT RUN...: each run's likelihood on the validation books (dtrain --eval) into
# OUT/<run name>_eval.json and _eval.txt.
eval_runs() {
  local out=$1 run name
  shift
  for run in "$@"; do
    name=$(basename "$run")
    echo "== likelihood of $name on the validation books"
    build/dtrain --eval "$run" --eval-json "$out/${name}_eval.json" | tee "$out/${name}_eval.txt"
  done
}

# val_prompts OUT TOKENIZER_RUN N: the first N token ids of each validation book, as TOKENIZER_RUN's
# tokenizer splits it, detokenized into a prefix per line of OUT/prompts.jsonl.
val_prompts() {
  local out=$1 tok=$2 n=$3 book ids
  : > "$out/prompts.jsonl"
  for book in $(ls data/kjv/val_text/*.txt | LC_ALL=C sort); do
    ids=$(build/dgen --tokenize --tokenizer "$tok" < "$book" | sed 's/.*"ids":\[\([^]]*\)\].*/\1/' | cut -d, -f1-"$n")
    echo "[$ids]" | build/dgen --detokenize --format jsonl --tokenizer "$tok" | sed 's/^{"text":/{"prefix":/' >> "$out/prompts.jsonl"
  done
}
