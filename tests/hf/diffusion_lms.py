"""Tiny random LLaDA and Dream folders and their reference logits, for dlm's oracles of masked-diffusion LMs.

A folder is what the authors publish, in miniature: config.json in the family's own keys (LLaDA's OLMo-style
d_model/n_heads/..., Dream's Qwen2 keys with model_type "Dream"; special ids as the authors' configs give
them), model.safetensors in its tensor names (LLaDA's model.transformer.*, Dream's model.layers.* and
lm_head) and a byte-level tokenizer (make_tokenizers.py's Llama-3-style one for LLaDA, whose files do not
name the mask token: only config.json's mask_token_id does; the Qwen2-style one for Dream). Weights are random normal with std 0.5 and norms 1 +- 0.1 noise, so that argmaxes and
confidence gaps are well separated; the width is 16 (4 heads of 4), where fp32's own error on the logits
stays well under the oracles' 1e-4 (at width 32 it reached 7.5e-5 against a float64 reference). `mask_wins` scales the mask id's head row: "never" shrinks it (its logit
stays near 0, below every position's top logit), "somewhere" enlarges it (it is the argmax at some positions).

reference_logits(folder, ids) computes fp32 logits with transformers (4.57.6) without any of the authors'
code: LLaDA as LlamaForCausalLM with its tensors renamed (q/k/v biases beside a zero o_proj bias), Dream as
Qwen2ForCausalLM, both with eager attention and a zero 4D additive mask (1, 1, L, L), which transformers uses
as given, so attention is bidirectional. Dream predicts shifted: position i's logits are the output at i-1,
position 0 keeps its own.

Usage as a script: python diffusion_lms.py OUT_DIR (writes the fixtures named in FIXTURES); other scripts
`import diffusion_lms`.
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_tokenizers  # noqa: E402

# The fixture tokenizers of make_tokenizers.py the families use: LLaDA's Llama-3-style one (its config.json
# names the mask id; the tokenizer files do not), Dream's Qwen2-style one.
TOKENIZERS = {"llada": ("llama3_tok", make_tokenizers.make_llama3, "<|mdm_mask|>"),
              "dream": ("qwen2_tok", make_tokenizers.make_qwen2, "<|mask|>")}
EOS = "<|endoftext|>"
STD = 0.5


def tokenizer_folder(out_dir, work, family):
    """Copies the family's fixture tokenizer folder (made under `work` when absent) into out_dir; returns
    (tokenizer, mask id, eos id)."""
    from transformers import AutoTokenizer
    name, make, mask = TOKENIZERS[family]
    base = os.path.join(work, name)
    if not os.path.isdir(base):
        make(base)
    tok = AutoTokenizer.from_pretrained(base)
    tok.save_pretrained(out_dir)
    mask_id, eos_id = tok.convert_tokens_to_ids([mask, EOS])
    assert mask_id != tok.unk_token_id and eos_id != tok.unk_token_id, base
    return tok, mask_id, eos_id


def mask_token(folder):
    """The mask token's string of a fixture folder (its config.json's mask_token_id)."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(folder).convert_ids_to_tokens(_config(folder)["mask_token_id"])


def _normal(shape, g, std=STD):
    return std * torch.randn(shape, generator=g)


def _norm(dim, g):
    return 1.0 + 0.1 * torch.randn(dim, generator=g)


def _set_mask_row(head, mask_id, mask_wins):
    """Scales the head's row of the mask id (in place): 'never' -> x0.01, 'somewhere' -> x4, None -> as is."""
    if mask_wins == "never":
        head[mask_id] *= 0.01
    elif mask_wins == "somewhere":
        head[mask_id] *= 4.0
    elif mask_wins is not None:
        raise ValueError(f"mask_wins: {mask_wins!r} (never, somewhere or None)")


def _write(out_dir, config, tensors):
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt"})


def write_llada(out_dir, work, seed=1, d_model=16, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=24,
                mlp_ratio=4, qkv_bias=False, tied=False, mask_wins="never", extra_rows=3, std=STD, max_len=64,
                rope_theta=5000.0):
    """A LLaDA folder (LLaDAModelLM's config and names). mlp_hidden_size None: mlp_ratio * d_model.
    `extra_rows`: embedding_size exceeds vocab_size (the tokenizer's size) by this many rows. `std`, `max_len`
    and `rope_theta` serve the benchmark's full-size folders (bench/llada_dream_speed.py)."""
    os.makedirs(out_dir, exist_ok=True)
    tok, mask_id, eos_id = tokenizer_folder(out_dir, work, "llada")
    vocab = len(tok)
    rows = vocab + extra_rows
    hidden = mlp_hidden_size if mlp_hidden_size is not None else mlp_ratio * d_model
    hd = d_model // n_heads
    g = torch.Generator().manual_seed(seed)
    t = {"model.transformer.wte.weight": _normal((rows, d_model), g, std)}
    for i in range(n_layers):
        b = f"model.transformer.blocks.{i}."
        t[b + "attn_norm.weight"] = _norm(d_model, g)
        t[b + "q_proj.weight"] = _normal((d_model, d_model), g, std)
        t[b + "k_proj.weight"] = _normal((n_kv_heads * hd, d_model), g, std)
        t[b + "v_proj.weight"] = _normal((n_kv_heads * hd, d_model), g, std)
        if qkv_bias:
            t[b + "q_proj.bias"] = _normal((d_model,), g, std)
            t[b + "k_proj.bias"] = _normal((n_kv_heads * hd,), g, std)
            t[b + "v_proj.bias"] = _normal((n_kv_heads * hd,), g, std)
        t[b + "attn_out.weight"] = _normal((d_model, d_model), g, std)
        t[b + "ff_norm.weight"] = _norm(d_model, g)
        t[b + "ff_proj.weight"] = _normal((hidden, d_model), g, std)
        t[b + "up_proj.weight"] = _normal((hidden, d_model), g, std)
        t[b + "ff_out.weight"] = _normal((d_model, hidden), g, std)
    t["model.transformer.ln_f.weight"] = _norm(d_model, g)
    head = "model.transformer.wte.weight" if tied else "model.transformer.ff_out.weight"
    if not tied:
        t[head] = _normal((rows, d_model), g, std)
    _set_mask_row(t[head], mask_id, mask_wins)
    config = {
        "architectures": ["LLaDAModelLM"], "model_type": "llada", "activation_type": "silu", "alibi": False,
        "alibi_bias_max": 8.0, "attention_dropout": 0.0, "attention_layer_norm": False,
        "attention_layer_norm_with_affine": True, "bias_for_layer_norm": False, "block_group_size": 1,
        "block_type": "llama", "d_model": d_model, "embedding_dropout": 0.0, "embedding_size": rows,
        "eos_token_id": eos_id, "flash_attention": False, "include_bias": False, "include_qkv_bias": qkv_bias,
        "init_cutoff_factor": None, "init_device": "meta", "init_fn": "mitchell", "init_std": 0.02,
        "input_emb_norm": False, "layer_norm_type": "rms", "layer_norm_with_affine": True,
        "mask_token_id": mask_id, "max_sequence_length": max_len, "mlp_hidden_size": mlp_hidden_size,
        "mlp_ratio": mlp_ratio, "multi_query_attention": None, "n_heads": n_heads, "n_kv_heads": n_kv_heads,
        "n_layers": n_layers, "pad_token_id": eos_id, "precision": "amp_bf16", "residual_dropout": 0.0,
        "rms_norm_eps": 1e-6, "rope": True, "rope_full_precision": True, "rope_theta": rope_theta,
        "scale_logits": False, "use_cache": False, "vocab_size": vocab, "weight_tying": tied,
        "torch_dtype": "float32"}
    _write(out_dir, config, t)
    return out_dir


def write_dream(out_dir, work, seed=2, hidden_size=16, heads=4, kv_heads=2, layers=2, intermediate=24, tied=False,
                mask_wins="never", extra_rows=3, std=STD, max_len=64, rope_theta=7000.0):
    """A Dream folder (DreamModel's config: Qwen2's keys; Qwen2's tensor names, q/k/v biases, none on o_proj)."""
    os.makedirs(out_dir, exist_ok=True)
    tok, mask_id, eos_id = tokenizer_folder(out_dir, work, "dream")
    rows = len(tok) + extra_rows
    hd = hidden_size // heads
    g = torch.Generator().manual_seed(seed)
    t = {"model.embed_tokens.weight": _normal((rows, hidden_size), g, std)}
    for i in range(layers):
        b = f"model.layers.{i}."
        t[b + "input_layernorm.weight"] = _norm(hidden_size, g)
        for name, out in (("q", hidden_size), ("k", kv_heads * hd), ("v", kv_heads * hd)):
            t[b + f"self_attn.{name}_proj.weight"] = _normal((out, hidden_size), g, std)
            t[b + f"self_attn.{name}_proj.bias"] = _normal((out,), g, std)
        t[b + "self_attn.o_proj.weight"] = _normal((hidden_size, hidden_size), g, std)
        t[b + "post_attention_layernorm.weight"] = _norm(hidden_size, g)
        t[b + "mlp.gate_proj.weight"] = _normal((intermediate, hidden_size), g, std)
        t[b + "mlp.up_proj.weight"] = _normal((intermediate, hidden_size), g, std)
        t[b + "mlp.down_proj.weight"] = _normal((hidden_size, intermediate), g, std)
    t["model.norm.weight"] = _norm(hidden_size, g)
    head = "model.embed_tokens.weight" if tied else "lm_head.weight"
    if not tied:
        t[head] = _normal((rows, hidden_size), g, std)
    _set_mask_row(t[head], mask_id, mask_wins)
    config = {
        "architectures": ["DreamModel"], "model_type": "Dream", "attention_dropout": 0.0, "bos_token_id": eos_id,
        "eos_token_id": eos_id, "hidden_act": "silu", "hidden_size": hidden_size, "initializer_range": 0.02,
        "intermediate_size": intermediate, "mask_token_id": mask_id, "max_position_embeddings": max_len,
        "max_window_layers": layers, "num_attention_heads": heads, "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads, "pad_token_id": eos_id, "rms_norm_eps": 1e-6, "rope_scaling": None,
        "rope_theta": rope_theta, "sliding_window": 4096, "tie_word_embeddings": tied, "torch_dtype": "float32",
        "use_cache": False, "use_sliding_window": False, "vocab_size": rows}
    _write(out_dir, config, t)
    return out_dir


# The oracle's fixtures: name -> (writer, keyword arguments).
FIXTURES = {
    "llada_mha": (write_llada, dict(seed=11, mask_wins="never")),
    "llada_gqa": (write_llada, dict(seed=12, n_kv_heads=2, mlp_hidden_size=None, mlp_ratio=2, qkv_bias=True,
                                    tied=True, mask_wins="somewhere")),
    "dream": (write_dream, dict(seed=14, tied=False, mask_wins="never")),
    "dream_tied": (write_dream, dict(seed=17, tied=True, kv_heads=4, mask_wins="somewhere")),
}


def write_fixtures(out_dir, names=None, tokenizer_base=None):
    """Writes the FIXTURES (or those named) under out_dir; returns {name: folder}. Their tokenizers are
    make_tokenizers.py's llama3_tok and qwen2_tok under tokenizer_base, made there when absent (default:
    out_dir/_tokenizer_base)."""
    os.makedirs(out_dir, exist_ok=True)
    work = tokenizer_base or os.path.join(out_dir, "_tokenizer_base")
    folders = {}
    for name in names or FIXTURES:
        writer, kwargs = FIXTURES[name]
        path = os.path.join(out_dir, name)
        shutil.rmtree(path, ignore_errors=True)
        folders[name] = writer(path, work, **kwargs)
    return folders


def _config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def _llada_as_llama(c, tensors):
    """LLaDA's config and tensors as a LlamaForCausalLM's (Llama's attention_bias also covers o_proj:
    a zero bias there keeps LLaDA's bias-free output projection)."""
    from transformers import LlamaConfig
    d, heads = c["d_model"], c["n_heads"]
    kv = c.get("n_kv_heads") or heads
    hidden = c["mlp_hidden_size"] if c.get("mlp_hidden_size") is not None else c["mlp_ratio"] * d
    qkv_bias = bool(c.get("include_qkv_bias"))
    config = LlamaConfig(
        vocab_size=c.get("embedding_size") or c["vocab_size"], hidden_size=d, intermediate_size=hidden,
        num_hidden_layers=c["n_layers"], num_attention_heads=heads, num_key_value_heads=kv,
        rms_norm_eps=c["rms_norm_eps"], rope_theta=c["rope_theta"], max_position_embeddings=c["max_sequence_length"],
        tie_word_embeddings=c["weight_tying"], attention_bias=qkv_bias, mlp_bias=False, hidden_act="silu",
        pad_token_id=None, bos_token_id=None, eos_token_id=None)
    names = {"wte": "model.embed_tokens", "ln_f": "model.norm", "ff_out": "lm_head", "attn_norm": "input_layernorm",
             "ff_norm": "post_attention_layernorm", "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj",
             "v_proj": "self_attn.v_proj", "attn_out": "self_attn.o_proj", "ff_proj": "mlp.gate_proj",
             "up_proj": "mlp.up_proj"}
    out = {}
    for key, value in tensors.items():
        parts = key.split(".")
        assert parts[:2] == ["model", "transformer"], key
        if parts[2] == "blocks":
            module = "mlp.down_proj" if parts[4] == "ff_out" else names[parts[4]]
            out[f"model.layers.{parts[3]}.{module}.{parts[5]}"] = value
        else:
            out[f"{names[parts[2]]}.{parts[3]}"] = value
    if qkv_bias:
        for i in range(c["n_layers"]):
            out[f"model.layers.{i}.self_attn.o_proj.bias"] = torch.zeros(d)
    return config, out


def _dream_as_qwen2(c):
    from transformers import Qwen2Config
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta",
            "tie_word_embeddings")
    return Qwen2Config(**{k: c[k] for k in keys if k in c}, use_sliding_window=False, rope_scaling=None)


def reference_model(folder):
    """The folder as a transformers causal LM in fp32 (eager attention), and whether its predictions shift."""
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM
    c = _config(folder)
    tensors = {k: v.float() for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    if c["model_type"] == "llada":
        config, tensors = _llada_as_llama(c, tensors)
        cls, shift = LlamaForCausalLM, False
    elif c["model_type"] == "Dream":
        config, cls, shift = _dream_as_qwen2(c), Qwen2ForCausalLM, True
    else:
        raise ValueError(f"{folder}: model_type {c['model_type']!r} is neither llada nor Dream")
    config._attn_implementation = "eager"
    model = cls(config).float().eval()
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    allowed = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - allowed or unexpected:
        raise ValueError(f"{folder}: missing {sorted(set(missing) - allowed)}, unexpected {sorted(unexpected)}")
    if config.tie_word_embeddings:
        model.tie_weights()
    return model, shift


def logits_of(model, shift, ids):
    """fp32 logits (L, V) of one sequence, bidirectional (a zero 4D additive mask), shifted for Dream."""
    x = torch.tensor([list(ids)])
    mask = torch.zeros(1, 1, x.shape[1], x.shape[1])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=mask).logits[0].float()
    if shift:
        logits = torch.cat([logits[:1], logits[:-1]], dim=0)
    return logits


def reference_logits(folder, ids):
    """The reference fp32 logits (numpy, L x V) of `ids` for a LLaDA or Dream folder."""
    model, shift = reference_model(folder)
    return logits_of(model, shift, ids).numpy()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: diffusion_lms.py OUT_DIR")
    for name, path in write_fixtures(sys.argv[1]).items():
        print(name, path)
