// Loading the masked-diffusion LMs' folders: a bf16 LLaDA folder's parameters stay bf16, each
// single-tensor parameter is the memory-mapped tensor itself (no copy), joined ones (q/k/v, gate/up) one
// bf16 tensor; training (model.init_from) widens to fp32; the export splits grouped-query parts back; a
// tied Dream folder may still hold its decoder.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "dlm/hf/family.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/hf/safetensors.h"
#include "dlm/model/model.h"
#include "hf_fixture.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using HfLlmFolder = dlm_test::HfFolderTest;

namespace {

// A GQA LLaDA config whose mask id is not the tiny tokenizer's [MASK] (4) but "." (11): config.json wins.
json bf16_llada_config() {
  return {{"model_type", "llada"},
          {"block_type", "llama"},
          {"layer_norm_type", "rms"},
          {"activation_type", "silu"},
          {"rope", true},
          {"d_model", 16},
          {"n_heads", 4},
          {"n_kv_heads", 2},
          {"n_layers", 2},
          {"mlp_hidden_size", 24},
          {"vocab_size", 14},
          {"embedding_size", 16},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"weight_tying", false},
          {"mask_token_id", 11},
          {"eos_token_id", 3},
          {"max_sequence_length", 32}};
}

// A tied Dream config (Qwen2's keys) over the tiny tokenizer.
json tied_dream_config() {
  return {{"model_type", "Dream"},    {"hidden_size", 16},           {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"num_hidden_layers", 1},      {"intermediate_size", 20},
          {"vocab_size", 16},         {"tie_word_embeddings", true}, {"max_position_embeddings", 32},
          {"mask_token_id", 4}};
}

// Writes a folder of random tensors (`dtype`) in the names of config `c`'s family, plus `extra`; returns
// them by name.
std::map<std::string, torch::Tensor> write_folder(const std::string& dir, const json& c, torch::ScalarType dtype,
                                                  const std::vector<std::string>& extra = {}) {
  fs::create_directories(dir);
  dlm::write_atomically(dir + "/config.json", c.dump());
  dlm::write_atomically(dir + "/tokenizer.json", dlm_test::tiny_tokenizer_json().dump());
  const dlm::HfFamily& family = dlm::hf_family(c["model_type"], "config.json");
  const dlm::HfArch arch = family.read_config(c, "config.json");
  torch::Generator gen = torch::make_generator<torch::CPUGeneratorImpl>(3);
  std::map<std::string, torch::Tensor> tensors;
  std::vector<std::pair<std::string, torch::Tensor>> list;
  const auto model = dlm::make_model(arch.model, arch.model.vocab_size, arch.max_len);
  const auto params = model->named_parameters();
  for (const dlm::TensorLink& link : family.links(arch.model)) {
    const torch::Tensor value = torch::randn(params[link.dlm].sizes(), gen).mul_(0.5).to(dtype);
    const auto parts = link.rows.empty() ? value.chunk(1, 0) : value.split_with_sizes(link.rows, 0);
    for (size_t i = 0; i < link.hf.size(); ++i) {
      tensors[link.hf[i]] = parts[i].contiguous();
      list.emplace_back(link.hf[i], tensors[link.hf[i]]);
    }
  }
  for (const std::string& name : extra) {
    tensors[name] = torch::randn({arch.model.vocab_size, arch.model.d_model}, gen).to(dtype);
    list.emplace_back(name, tensors[name]);
  }
  dlm::save_safetensors(dir + "/model.safetensors", list);
  return tensors;
}

std::map<std::string, torch::Tensor> write_bf16_folder(const std::string& dir) {
  return write_folder(dir, bf16_llada_config(), torch::kBFloat16);
}

// Whether `p` lies in a mapping of `file` (/proc/self/maps: "start-end perms offset dev inode path").
bool is_mapped_from(const void* p, const std::string& file) {
  const std::string path = fs::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto at = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.size() < path.size() || line.compare(line.size() - path.size(), path.size(), path) != 0) continue;
    std::istringstream in(line);
    uintptr_t start = 0, end = 0;
    char dash = 0;
    in >> std::hex >> start >> dash >> end;
    if (at >= start && at < end) return true;
  }
  return false;
}

TEST_F(HfLlmFolder, Bf16ParametersAreTheMappedTensorsAndJoinedOnesOneBf16Tensor) {
  const std::string dir = (dir_ / "llada").string();
  const auto tensors = write_bf16_folder(dir);
  const dlm::LoadedModel loaded = dlm::load_hf_folder(dir, torch::kCPU);
  EXPECT_EQ(loaded.sampler, "llada");
  EXPECT_EQ(loaded.tokenizer->mask_id(), 11);
  EXPECT_EQ(loaded.tokenizer->eos_id(), 3);
  const auto params = loaded.model->named_parameters();
  for (const auto& p : params) EXPECT_EQ(p.value().scalar_type(), torch::kBFloat16) << p.key();
  const std::string file = dir + "/model.safetensors";
  for (const std::string name : {"tok_emb.weight", "blocks.1.attn.proj.weight", "blocks.0.norm2.rms_norm.weight",
                                 "blocks.1.fc_out.weight", "norm_f.rms_norm.weight", "head.weight"}) {
    EXPECT_TRUE(is_mapped_from(params[name].data_ptr(), file)) << name << " is a copy, not the mapped tensor";
  }
  EXPECT_TRUE(torch::equal(params["head.weight"], tensors.at("model.transformer.ff_out.weight")));
  const torch::Tensor qkv = params["blocks.1.attn.qkv.weight"];
  EXPECT_FALSE(is_mapped_from(qkv.data_ptr(), file));
  const std::string b = "model.transformer.blocks.1.";
  EXPECT_TRUE(torch::equal(qkv, torch::cat({tensors.at(b + "q_proj.weight"), tensors.at(b + "k_proj.weight"),
                                            tensors.at(b + "v_proj.weight")})));
  EXPECT_EQ(qkv.size(0), 16 + 8 + 8);
  EXPECT_TRUE(torch::equal(params["blocks.1.fc.weight"],
                           torch::cat({tensors.at(b + "ff_proj.weight"), tensors.at(b + "up_proj.weight")})));
  // The bf16 model runs; its logits are the widened model's up to bf16 rounding.
  const auto wide = dlm::make_model(loaded.config.model, loaded.tokenizer->vocab_size(), 32);
  dlm::load_hf_weights(dir, *wide);  // model.init_from's path: fp32 copies
  wide->eval();
  for (const auto& p : wide->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::tensor({2, 7, 8, 4, 10, 4, 3}).unsqueeze(0);  // cpu: a test input
  const torch::Tensor ours = loaded.model->forward(ids, torch::zeros({1}));      // cpu: unused time
  const torch::Tensor theirs = wide->forward(ids, torch::zeros({1}));            // cpu: unused time
  EXPECT_EQ(ours.scalar_type(), torch::kBFloat16);
  const double scale = theirs.abs().max().item<double>();
  EXPECT_LT((ours.to(torch::kFloat32) - theirs).abs().max().item<double>(), 0.1 * scale);
}

TEST_F(HfLlmFolder, ExportSplitsGroupedQueryPartsBackBitForBit) {
  const std::string dir = (dir_ / "llada").string();
  const auto tensors = write_bf16_folder(dir);
  const std::string out = (dir_ / "out").string();
  dlm::export_hf(dir, out);
  const json config = json::parse(dlm::read_file(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "llada");
  EXPECT_EQ(config["n_kv_heads"], 2);
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  EXPECT_EQ(config["mask_token_id"], 11);
  const dlm::SafetensorsFile exported(out + "/model.safetensors");
  EXPECT_EQ(exported.entries().size(), tensors.size());
  for (const auto& [name, value] : tensors) {
    ASSERT_TRUE(exported.contains(name)) << name;
    EXPECT_TRUE(torch::equal(exported.tensor(name), value)) << name;
  }
}

// A tied folder that still holds its decoder (some saves do) loads: the embeddings are the head. An untied
// one without lm_head is refused naming it. Dream's predictions are shifted.
TEST_F(HfLlmFolder, ATiedDreamFolderMayHoldItsDecoderAndAnUntiedOneNeedsIt) {
  const std::string dir = (dir_ / "dream").string();
  const auto tensors = write_folder(dir, tied_dream_config(), torch::kFloat32, {"lm_head.weight"});
  const dlm::LoadedModel loaded = dlm::load_hf_folder(dir, torch::kCPU);
  EXPECT_EQ(loaded.sampler, "dream");
  EXPECT_TRUE(loaded.config.model.shift);
  EXPECT_EQ(loaded.model->named_parameters().find("head.weight"), nullptr);
  EXPECT_TRUE(
      torch::equal(loaded.model->named_parameters()["tok_emb.weight"], tensors.at("model.embed_tokens.weight")));
  json untied = tied_dream_config();
  untied["tie_word_embeddings"] = false;
  const std::string other = (dir_ / "untied").string();
  write_folder(other, tied_dream_config(), torch::kFloat32);
  dlm::write_atomically(other + "/config.json", untied.dump());
  EXPECT_EQ(dlm_test::error_of([&] { dlm::load_hf_folder(other, torch::kCPU); }),
            other + ": tensor 'lm_head.weight' is missing (its config.json needs it)");
}

}  // namespace
