// Activation recomputation (train.recompute): the gradients equal the plain pass's bit for bit, with
// dropout, time conditioning, padding, grouped-query attention and bf16 autocast.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "dlm/device.h"
#include "dlm/model/model.h"
#include "test_util.h"

namespace {

dlm::ModelConfig small_config() {
  dlm::ModelConfig c = dlm_test::tiny_model(3, 4, /*dropout=*/0.1);  // the rerun must draw the first run's masks
  c.norm = dlm::NormKind::kRmsNorm;
  c.pos = dlm::PosKind::kRotary;
  c.activation = dlm::Activation::kRelu2;
  c.qk_norm = true;
  c.time_cond = dlm::TimeCond::kAdaln;  // cond carries a gradient into the time MLP
  c.tie_head = false;
  return c;
}

struct Pass {
  torch::Tensor loss;
  std::vector<torch::Tensor> grads;
  int64_t reruns = 0;  ///< layers in the backward graph that rerun in backward
};

// The nodes of loss's backward graph whose name contains `name`.
int64_t count_nodes(const torch::Tensor& loss, const std::string& name) {
  std::vector<torch::autograd::Node*> todo = {loss.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int64_t n = 0;
  while (!todo.empty()) {
    torch::autograd::Node* node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find(name) != std::string::npos) ++n;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return n;
}

// One training pass of a fresh model (same seed, same weights) with recompute on or off.
Pass train_pass(const dlm::ModelConfig& c, bool recompute, bool bf16) {
  torch::manual_seed(11);
  auto model = dlm::make_model(c, 24, 12);
  {
    // adaLN-Zero starts at zero, where no gradient reaches the time MLP: give it weights.
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      if (p.key().find("ada.") != std::string::npos) p.value().normal_(0.0, 0.05);
    }
  }
  model->train();
  model->set_recompute(recompute);
  const torch::Tensor ids = torch::randint(0, 24, {3, 12}, torch::kInt64);
  const torch::Tensor t = torch::rand({3});
  torch::Tensor key_valid = torch::ones({3, 12}, torch::kBool);
  key_valid.index_put_({2, torch::indexing::Slice(9, 12)}, false);
  const torch::Tensor weights = torch::randn({3, 12, 24});
  torch::manual_seed(5);  // dropout's stream
  Pass out;
  {
    const auto autocast = bf16 ? std::make_unique<dlm::AutocastGuard>(torch::kCPU, torch::kBFloat16) : nullptr;
    out.loss = (model->forward_rows(ids, t, key_valid).to(torch::kFloat32) * weights).sum();
  }
  out.reruns = count_nodes(out.loss, "Recomputed");
  out.loss.backward();
  for (const auto& p : model->parameters()) out.grads.push_back(p.grad().defined() ? p.grad() : torch::Tensor());
  return out;
}

void expect_same_pass(const dlm::ModelConfig& c, bool bf16) {
  const Pass plain = train_pass(c, false, bf16);
  const Pass rerun = train_pass(c, true, bf16);
  EXPECT_EQ(plain.reruns, 0);
  EXPECT_EQ(rerun.reruns, c.n_layer - 1);  // not the last, whose backward comes first
  EXPECT_TRUE(torch::equal(plain.loss, rerun.loss));
  ASSERT_EQ(plain.grads.size(), rerun.grads.size());
  int64_t with_grad = 0;
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    ASSERT_EQ(plain.grads[i].defined(), rerun.grads[i].defined()) << "parameter " << i;
    if (!plain.grads[i].defined()) continue;
    ++with_grad;
    EXPECT_TRUE(torch::equal(plain.grads[i], rerun.grads[i]))
        << "parameter " << i << ": max difference " << (plain.grads[i] - rerun.grads[i]).abs().max().item<double>();
  }
  EXPECT_EQ(with_grad, static_cast<int64_t>(plain.grads.size()));  // every parameter, the time MLP's too
}

TEST(Recompute, GradientsEqualThePlainPassWithDropoutTimeConditioningAndPadding) {
  expect_same_pass(small_config(), false);
}

TEST(Recompute, GradientsEqualThePlainPassWithGroupedQueryAttentionAndSwiglu) {
  dlm::ModelConfig c = small_config();
  c.n_kv_head = 2;
  c.activation = dlm::Activation::kSwiglu;
  c.time_cond = dlm::TimeCond::kAdd;
  c.qk_norm = false;
  expect_same_pass(c, false);
}

TEST(Recompute, GradientsEqualThePlainPassUnderBf16Autocast) { expect_same_pass(small_config(), true); }

// Recompute acts only where a backward pass will come: evaluation and sampling run as before.
TEST(Recompute, EvaluationWithoutGradientsIsUnchanged) {
  torch::manual_seed(2);
  auto model = dlm::make_model(small_config(), 24, 12);
  const torch::Tensor ids = torch::randint(0, 24, {2, 12}, torch::kInt64);
  const torch::Tensor t = torch::rand({2});
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor plain = model->forward(ids, t);
  model->set_recompute(true);
  EXPECT_TRUE(torch::equal(plain, model->forward(ids, t)));
}

}  // namespace
