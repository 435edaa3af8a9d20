// The LLaDA and Dream samplers' shared loop parts: groups of rows of one width, a stream per row
// (dlm's, or torch.manual_seed(--seed)'s under --rng torch), the model pass and the step report.
#include "reference_loop.h"

#include <map>

#include "dlm/random.h"

namespace dlm {

std::vector<std::pair<int64_t, std::vector<int64_t>>> rows_by_width(const DenoiseRows& rows) {
  std::map<int64_t, std::vector<int64_t>> groups;
  const torch::Tensor widths = rows.valid.sum(1);  // (B)
  for (int64_t r = 0; r < rows.tokens.size(0); ++r) groups[widths[r].item<int64_t>()].push_back(r);
  return {groups.begin(), groups.end()};
}

ReferenceGroup::ReferenceGroup(DenoiserImpl& model, const DenoiseRows& rows, std::vector<int64_t> members,
                               int64_t width, const SampleConfig& options, int64_t mask_id, DenoiseResult& result,
                               const StepCallback& on_step)
    : model_(model),
      members_(std::move(members)),
      width_(width),
      mask_id_(mask_id),
      result_(result),
      on_step_(on_step) {
  const torch::Tensor index = torch::tensor(members_, torch::kInt64);  // cpu: row indices of the CPU canvases
  x_ = rows.tokens.index_select(0, index).narrow(1, 0, width).clone();
  // Canvases are laid out as the prompt's ids, then the generated positions: the first generated one.
  const torch::Tensor generated = rows.generate[members_[0]].narrow(0, 0, width).nonzero();
  prompt_length_ = generated.size(0) > 0 ? generated[0][0].item<int64_t>() : width;
  for (int64_t r : members_) {
    const uint64_t seed = options.rng == Rng::kTorch ? rows.seed : rows.seeds[static_cast<size_t>(r)];
    gens_.push_back(cpu_generator(seed));
  }
}

torch::Tensor ReferenceGroup::pass(const torch::Tensor& ids, const std::vector<int64_t>& which) {
  const torch::Device device = module_device(model_);
  // The time input (models without time conditioning ignore it): the share of each row still masked.
  const torch::Tensor t = ids.eq(mask_id_).to(torch::kFloat32).mean(1);
  const torch::Tensor logits = model_.forward(ids.to(device), t.to(device)).to(torch::kCPU);
  ++result_.forward_calls;
  for (int64_t g : which) {
    RowStats& s = result_.rows[static_cast<size_t>(members_[static_cast<size_t>(g)])];
    s.passes += 1;
    s.equivalents += static_cast<double>(ids.size(0)) / static_cast<double>(which.size());
  }
  return logits;
}

void ReferenceGroup::reveal(int64_t g, const torch::Tensor& positions, const torch::Tensor& x0) {
  if (positions.numel() == 0) return;
  torch::Tensor row = x_[g];
  row.index_put_({positions}, x0.index_select(0, positions));
}

void ReferenceGroup::end_step(int64_t step, const std::vector<int64_t>& which) {
  for (int64_t g : which) {
    const int64_t r = members_[static_cast<size_t>(g)];
    result_.rows[static_cast<size_t>(r)].steps += 1;
    result_.tokens[r].narrow(0, 0, width_).copy_(x_[g]);
  }
  if (on_step_) on_step_({step, result_.tokens, {}});
}

}  // namespace dlm
