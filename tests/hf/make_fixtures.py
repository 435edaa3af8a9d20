"""Writes tiny random BERT, RoBERTa and ModernBERT folders with transformers' save_pretrained
(safetensors), the oracle fixtures of tests/hf/check_models.py. Every setting is a non-default one (odd
head counts, eps, gelu_new, an intermediate size that is not 4x, a config vocabulary larger than the
tokenizer's; for ModernBERT a local window shorter than the prompt, two or three global layers, local and
global rotary bases that differ or a null local one, every bias switch both ways), and every parameter,
LayerNorms and biases included, is random, so a wrong tensor mapping shows. `modernbert_v5` is
`modernbert` with its config.json rewritten in transformers 5's layout (layer_types, rope_parameters),
which 4.57 cannot read: dlm's logits on it are compared with transformers' on `modernbert`. The LLaDA and
Dream folders are tests/hf/diffusion_lms.py's (its FIXTURES), over bert_tok.
Usage: python make_fixtures.py OUT_DIR"""
import json
import os
import shutil
import sys

import torch
from transformers import (BertConfig, BertForMaskedLM, BertModel, ModernBertConfig, ModernBertForMaskedLM,
                          RobertaConfig, RobertaForMaskedLM)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffusion_lms  # noqa: E402
import make_tokenizers  # noqa: E402


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if name.lower().endswith("norm.weight") else 0.3 * noise)
    return model.eval()


def bert_config(vocab, **extra):
    settings = dict(vocab_size=vocab + 3, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=40, hidden_act="gelu_new", layer_norm_eps=1e-7, max_position_embeddings=64,
                    type_vocab_size=3, pad_token_id=0)
    settings.update(extra)
    return BertConfig(**settings)


def modernbert_config(vocab, **extra):
    settings = dict(vocab_size=vocab + 3, hidden_size=24, num_hidden_layers=4, num_attention_heads=3,
                    intermediate_size=20, hidden_activation="gelu", classifier_activation="gelu_new", norm_eps=1e-6,
                    max_position_embeddings=64, local_attention=6, global_attn_every_n_layers=2,
                    global_rope_theta=1000.0, local_rope_theta=37.0, norm_bias=True, attention_bias=True,
                    mlp_bias=False, classifier_bias=True, decoder_bias=True, pad_token_id=0, bos_token_id=2,
                    eos_token_id=3, cls_token_id=2, sep_token_id=3, reference_compile=False)
    settings.update(extra)
    return ModernBertConfig(**settings)


def v5_layout(src, dst):
    """Copies a ModernBERT folder with its config.json in transformers 5's layout."""
    shutil.copytree(src, dst)
    path = os.path.join(dst, "config.json")
    with open(path) as f:
        c = json.load(f)
    every = c.pop("global_attn_every_n_layers")
    c["layer_types"] = ["full_attention" if i % every == 0 else "sliding_attention" for i in range(c["num_hidden_layers"])]
    c["rope_parameters"] = {"full_attention": {"rope_type": "default", "rope_theta": c.pop("global_rope_theta")},
                            "sliding_attention": {"rope_type": "default", "rope_theta": c.pop("local_rope_theta")}}
    with open(path, "w") as f:
        json.dump(c, f, indent=2)


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
    modern = randomise(ModernBertForMaskedLM(modernbert_config(len(bert_tok))), 5)
    save(modern, bert_tok, os.path.join(out, "modernbert"))
    v5_layout(os.path.join(out, "modernbert"), os.path.join(out, "modernbert_v5"))
    # Null local base (the global one), no norm or attention biases, MLP biases, untied decoder without bias,
    # three global layers of five.
    other = ModernBertForMaskedLM(modernbert_config(
        len(bert_tok), hidden_size=16, num_hidden_layers=5, num_attention_heads=2, intermediate_size=28,
        classifier_activation="gelu", local_attention=4, global_attn_every_n_layers=2, global_rope_theta=500.0,
        local_rope_theta=None, norm_bias=False, attention_bias=False, mlp_bias=True, classifier_bias=False,
        decoder_bias=False, tie_word_embeddings=False))
    save(randomise(other, 6), bert_tok, os.path.join(out, "modernbert_nulllocal"))
    diffusion_lms.write_fixtures(out, tokenizer_base=out)


if __name__ == "__main__":
    main(sys.argv[1])
