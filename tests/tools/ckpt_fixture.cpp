// Writes a cross-flavour checkpoint fixture: a tiny model after one optimizer step (PREFIX.pt) and
// the logits it gives on a fixed input (PREFIX.json), so that a build against another LibTorch
// version can check it reads the file alike (tests/test_checkpoint.cpp, CheckpointFlavours.*).
// Usage: ckpt_fixture PREFIX
#include <cstdio>
#include <fstream>

#include <torch/version.h>

#include "dlm/model/checkpoint.h"
#include "dlm/train/trainer.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ckpt_fixture PREFIX\n");
    return 2;
  }
  const std::string prefix = argv[1];
  dlm::Config c;
  c.name = "fixture";
  c.data.path = "unused.txt";
  c.data.seq_len = 6;
  c.model.d_model = 16;
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.model.pos = dlm::PosKind::kRotary;
  c.model.dropout = 0.0;
  const dlm::CharTokenizer tokenizer = dlm::CharTokenizer::build({"abcde"});
  torch::manual_seed(5);
  auto model = dlm::make_model(c.model, tokenizer.vocab_size(), c.data.seq_len);
  const auto optimizer_owner = dlm::make_optimizer(*model, c.train);
  torch::optim::AdamW& optimizer = *optimizer_owner;
  const auto ids = torch::tensor({5, 6, 1, 7, 1, 3}, torch::kInt64).view({1, 6});
  const auto t = torch::tensor({0.5f});
  model->forward(ids, t).pow(2).mean().backward();
  optimizer.step();
  dlm::TrainState state;
  state.step = 1;
  dlm::save_checkpoint(prefix + ".pt", c, tokenizer, *model, &optimizer, state);

  model->eval();
  const auto logits = model->forward(ids, t).flatten().to(torch::kFloat64).contiguous();
  double moments = 0.0;
  for (const auto& item : optimizer.state()) {
    moments += static_cast<torch::optim::AdamWParamState&>(*item.second).exp_avg().abs().sum().item<double>();
  }
  const nlohmann::json out = {
      {"written_by", TORCH_VERSION},
      {"ids", std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 6)},
      {"t", 0.5},
      {"logits", std::vector<double>(logits.data_ptr<double>(), logits.data_ptr<double>() + logits.numel())},
      {"exp_avg_abs_sum", moments}};
  std::ofstream(prefix + ".json") << out.dump(1) << "\n";
  return 0;
}
