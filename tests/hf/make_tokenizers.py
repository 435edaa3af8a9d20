#!/usr/bin/env python3
"""Writes two Hugging Face tokenizer folders for checking dlm's tokenizer.json reader against transformers:

  OUT_DIR/roberta_tok/  RobertaTokenizerFast over GPT-2's vocabulary (data/gpt2: encoder.json = vocab.json,
                        vocab.bpe = merges.txt): byte-level BPE, <mask> with lstrip, RobertaProcessing.
  OUT_DIR/bert_tok/     a small uncased WordPiece (2000 pieces, lowercase + accent stripping, BertProcessing)
                        over the repo's text and tests/hf/mixed.txt, saved as a BertTokenizerFast folder.
                        The library's WordPiece trainer breaks ties differently from run to run, so the
                        vocabulary is chosen here: every character (alone and as ##c), then the most frequent
                        words, word starts and ##word ends, ties in string order.

Both are deterministic: the same inputs give the same files. Other scripts can `from make_tokenizers import make`.
Usage: make_tokenizers.py OUT_DIR   (run with the Python that has transformers and tokenizers)
"""
import os
import shutil
import sys
import tempfile
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def make_roberta(out_dir):
    from transformers import RobertaTokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt")
        shutil.copyfile(os.path.join(REPO, "data", "gpt2", "encoder.json"), vocab)
        shutil.copyfile(os.path.join(REPO, "data", "gpt2", "vocab.bpe"), merges)
        tok = RobertaTokenizerFast(vocab_file=vocab, merges_file=merges)
        tok.save_pretrained(out_dir)
    return out_dir


def training_texts():
    texts = []
    for name in ("translate.txt", "code.txt", "names.txt"):
        with open(os.path.join(REPO, "data", name), encoding="utf-8") as f:
            texts.extend(f.read().splitlines()[:2000])
    with open(os.path.join(HERE, "mixed.txt"), encoding="utf-8") as f:
        texts.extend(f.read().splitlines())
    return texts


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocab(words, size):
    chars = sorted({c for w in words for c in w})
    vocab = SPECIALS + chars + ["##" + c for c in chars]
    pieces = Counter()
    for w, n in words.items():
        pieces[w] += n
        for k in range(2, min(len(w), 6) + 1):
            pieces[w[:k]] += n
            pieces["##" + w[-k:]] += n
    known = set(vocab)
    for piece, _ in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= size:
            break
        if piece not in known:
            vocab.append(piece)
            known.add(piece)
    return {piece: i for i, piece in enumerate(vocab)}


def make_bert(out_dir):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter()
    for text in training_texts():
        words.update(w for w, _ in pre.pre_tokenize_str(norm.normalize_str(text)))
    vocab = wordpiece_vocab(words, 2000)
    tk = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tk.normalizer, tk.pre_tokenizer, tk.decoder = norm, pre, decoders.WordPiece(prefix="##")
    tk.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tok = BertTokenizerFast(tokenizer_object=tk, do_lower_case=True, strip_accents=True, unk_token="[UNK]",
                            sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    tok.save_pretrained(out_dir)
    return out_dir


def make(out_dir):
    """Writes both folders under out_dir and returns their paths (roberta, bert)."""
    os.makedirs(out_dir, exist_ok=True)
    return (make_roberta(os.path.join(out_dir, "roberta_tok")), make_bert(os.path.join(out_dir, "bert_tok")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tokenizers.py OUT_DIR")
    for path in make(sys.argv[1]):
        print(path)
