"""Writes tiny random BERT and RoBERTa folders with transformers' save_pretrained (safetensors), the
oracle fixtures of tests/hf/check_models.py. Every setting is a non-default one (odd head counts, eps,
gelu_new, an intermediate size that is not 4x, a config vocabulary larger than the tokenizer's), and
every parameter, LayerNorms and biases included, is random, so a wrong tensor mapping shows.
Usage: python make_fixtures.py OUT_DIR"""
import os
import sys

import torch
from transformers import (BertConfig, BertForMaskedLM, BertModel, RobertaConfig, RobertaForMaskedLM)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizers  # noqa: E402


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if "LayerNorm.weight" in name or "layer_norm.weight" in name else 0.3 * noise)
    return model.eval()


def bert_config(vocab, **extra):
    settings = dict(vocab_size=vocab + 3, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=40, hidden_act="gelu_new", layer_norm_eps=1e-7, max_position_embeddings=64,
                    type_vocab_size=3, pad_token_id=0)
    settings.update(extra)
    return BertConfig(**settings)


def save(model, tok, path, dtype=None):
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)


def main(out):
    from transformers import AutoTokenizer
    make_tokenizers.make(out)
    bert_tok = AutoTokenizer.from_pretrained(os.path.join(out, "bert_tok"))
    roberta_tok = AutoTokenizer.from_pretrained(os.path.join(out, "roberta_tok"))
    bert = randomise(BertForMaskedLM(bert_config(len(bert_tok))), 1)
    save(bert, bert_tok, os.path.join(out, "bert"))
    save(bert, bert_tok, os.path.join(out, "bert_fp16"), torch.float16)
    untied = randomise(BertForMaskedLM(bert_config(len(bert_tok), tie_word_embeddings=False, hidden_act="gelu")), 2)
    save(untied, bert_tok, os.path.join(out, "bert_untied"))
    encoder = randomise(BertModel(bert_config(len(bert_tok)), add_pooling_layer=True), 3)
    save(encoder, bert_tok, os.path.join(out, "bert_encoder"))
    roberta = RobertaForMaskedLM(RobertaConfig(
        vocab_size=len(roberta_tok), hidden_size=20, num_hidden_layers=2, num_attention_heads=5, intermediate_size=36,
        hidden_act="gelu", layer_norm_eps=1e-6, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2))
    save(randomise(roberta, 4), roberta_tok, os.path.join(out, "roberta"))


if __name__ == "__main__":
    main(sys.argv[1])
