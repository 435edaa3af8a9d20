#!/usr/bin/env bash
# The Hugging Face oracle test (CTest hf.oracle, in the torch wheel's build): makes the tiny random
# fixture folders with transformers, then checks dlm's tokenizers (check_tokenizers.py: BERT, RoBERTa,
# Qwen2-style fast and slow, Llama-3-style, with their --chat ids) and models and exports
# (check_models.py) against transformers and tokenizers, dgen's --sampler llada and dream
# (check_generate.py) against a loop written from their rules, and the real all-MiniLM-L6-v2 folder
# in data/minilm (scripts/test.sh fetches it with scripts/fetch_minilm.sh). The steps run in one Python
# process (oracle.py), which imports torch and transformers once.
# Usage: oracle.sh PYTHON DGEN DTRAIN WORK_DIR
set -euo pipefail
python=$1 dgen=$2 dtrain=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The installed versions, read without importing them (an import of transformers takes seconds).
if ! "$python" -c 'import importlib.metadata as m; assert m.version("transformers") == "4.57.6"; m.version("tokenizers")' 2>/dev/null; then
  echo "hf.oracle: $python lacks transformers==4.57.6 (scripts/test.sh --torch pip installs it beside torch)" >&2
  exit 1
fi
minilm=$root/data/minilm
[ -s "$minilm/model.safetensors" ] || { echo "hf.oracle: no $minilm; run scripts/fetch_minilm.sh" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
"$python" "$here/oracle.py" "$dgen" "$dtrain" "$work" "$minilm"
