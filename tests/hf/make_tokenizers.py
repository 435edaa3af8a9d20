#!/usr/bin/env python3
"""Writes Hugging Face tokenizer folders for checking dlm's tokenizer.json reader against transformers:

  OUT_DIR/roberta_tok/  RobertaTokenizerFast over GPT-2's vocabulary (data/gpt2: encoder.json = vocab.json,
                        vocab.bpe = merges.txt): byte-level BPE, <mask> with lstrip, RobertaProcessing.
  OUT_DIR/bert_tok/     a small uncased WordPiece (2000 pieces, lowercase + accent stripping, BertProcessing)
                        over the repo's text and tests/hf/mixed.txt, saved as a BertTokenizerFast folder.
                        The library's WordPiece trainer breaks ties differently from run to run, so the
                        vocabulary is chosen here: every character (alone and as ##c), then the most frequent
                        words, word starts and ##word ends, ties in string order.
  OUT_DIR/qwen2_tok/    Qwen2's layout (Dream, DiffuCoder): NFC, Qwen2's Split pattern, ByteLevel without its
                        regex, a byte-level BPE of 1000 pieces trained on the same texts, the ByteLevel decoder
                        and post-processor, added tokens <|endoftext|> <|im_start|> <|im_end|> <|mask|>, and a
                        ChatML chat template with a default system turn (written here in Qwen's layout).
  OUT_DIR/qwen2_slow_tok/  the same tokenizer as the slow Qwen2Tokenizer's files only: vocab.json, merges.txt and
                        tokenizer_config.json (with added_tokens_decoder and the chat template).
  OUT_DIR/llama3_tok/   Llama-3's layout (LLaDA): no normaliser, the pattern with \p{N}{1,3}, ByteLevel without its
                        regex, its own 1000-piece BPE, <|startoftext|> put first by a TemplateProcessing
                        post-processor (after ByteLevel's, in a Sequence, as Llama-3 files have it), the header and
                        end-of-turn tokens, and LLaDA's chat template layout (bos_token, then header turns).

All are deterministic: the same inputs give the same files. Other scripts can `from make_tokenizers import make`.
Usage: make_tokenizers.py OUT_DIR   (run with the Python that has transformers and tokenizers)
"""
import json
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


QWEN2_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
                 r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
LLAMA3_PATTERN = QWEN2_PATTERN.replace(r"\p{N}|", r"\p{N}{1,3}|")

# Chat templates in the two layouts dlm's --chat knows (written for these fixtures).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
LLADA_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' %}"
    "{%- if loop.index0 == 0 %}{%- set content = bos_token + content %}{%- endif %}"
    "{{- content }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")


def byte_level_bpe(pattern, normalizer, specials):
    """A 1000-piece byte-level BPE trained on training_texts() behind Split(pattern) + ByteLevel(use_regex=False)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.normalizer = normalizer
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tk.train_from_iterator(training_texts(), trainer=trainer)
    tk.add_special_tokens(specials)
    return tk


def make_qwen2(out_dir):
    from tokenizers import normalizers, processors
    from transformers import Qwen2TokenizerFast

    tk = byte_level_bpe(QWEN2_PATTERN, normalizers.NFC(), ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"])
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tok = Qwen2TokenizerFast(tokenizer_object=tk, unk_token=None, bos_token=None, eos_token="<|endoftext|>",
                             pad_token="<|endoftext|>", mask_token="<|mask|>", clean_up_tokenization_spaces=False)
    tok.chat_template = CHATML_TEMPLATE
    tok.save_pretrained(out_dir)
    return out_dir


def make_qwen2_slow(out_dir, fast_dir):
    """fast_dir's vocab.json and merges.txt with a tokenizer_config.json naming the slow Qwen2Tokenizer."""
    os.makedirs(out_dir, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(fast_dir, name), os.path.join(out_dir, name))
    with open(os.path.join(fast_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config["chat_template"] = CHATML_TEMPLATE
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
    return out_dir


def make_llama3(out_dir):
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tk = byte_level_bpe(LLAMA3_PATTERN, None, ["<|startoftext|>", "<|endoftext|>", "<|start_header_id|>",
                                               "<|end_header_id|>", "<|eot_id|>", "<|mdm_mask|>"])
    bos = tk.token_to_id("<|startoftext|>")
    tk.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True),
        processors.TemplateProcessing(single="<|startoftext|> $A", pair="<|startoftext|> $A <|startoftext|> $B",
                                      special_tokens=[("<|startoftext|>", bos)])])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                                  clean_up_tokenization_spaces=False)
    tok.chat_template = LLADA_TEMPLATE
    tok.save_pretrained(out_dir)
    return out_dir


def make(out_dir):
    """Writes every folder under out_dir and returns their paths (roberta, bert, qwen2, qwen2_slow, llama3)."""
    os.makedirs(out_dir, exist_ok=True)
    qwen2 = make_qwen2(os.path.join(out_dir, "qwen2_tok"))
    return (make_roberta(os.path.join(out_dir, "roberta_tok")), make_bert(os.path.join(out_dir, "bert_tok")), qwen2,
            make_qwen2_slow(os.path.join(out_dir, "qwen2_slow_tok"), qwen2), make_llama3(os.path.join(out_dir, "llama3_tok")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tokenizers.py OUT_DIR")
    for path in make(sys.argv[1]):
        print(path)
