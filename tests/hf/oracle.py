"""Runs the Hugging Face oracle's steps in one interpreter (tests/hf/oracle.sh calls it): importing torch
and transformers takes about 9 s on the test machine, paid once here instead of once per step. The steps,
in order, each stopping the run on its first failure: make_fixtures.py, check_tokenizers.py,
check_models.py, check_generate.py (see each for what it checks).
Usage: oracle.py DGEN DTRAIN WORK_DIR MINILM_DIR"""
import os
import sys

import check_generate
import check_models
import check_tokenizers
import make_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))


def main(dgen, dtrain, work, minilm):
    fixtures = os.path.join(work, "fixtures")
    make_fixtures.main(fixtures)
    tokenizers = ["--folder", minilm]
    for name in ("roberta_tok", "bert_tok", "qwen2_tok", "llama3_tok"):
        tokenizers += ["--folder", os.path.join(fixtures, name)]
    tokenizers += ["--slow-folder", os.path.join(fixtures, "qwen2_slow_tok")]
    if check_tokenizers.main(["--dgen", dgen, "--texts", os.path.join(HERE, "mixed.txt")] + tokenizers):
        sys.exit("hf.oracle: the tokenizers differ from transformers'")
    check_models.main(["--dgen", dgen, "--dtrain", dtrain, "--fixtures", fixtures,
                       "--work", os.path.join(work, "models"), "--minilm", minilm])
    check_generate.main(["--dgen", dgen, "--fixtures", fixtures])


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n")[-1])
    main(*sys.argv[1:])
