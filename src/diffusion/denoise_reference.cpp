// denoise_reference: the denoising algorithm without its optimisations, one row and one full pass at a
// time, so that the optimised loop (denoise.cpp) has something plain to be checked against.
#include <cmath>
#include <limits>

#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"

namespace dlm {

torch::Tensor denoise_reference(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o,
                                const SpecialIds& ids) {
  if (o.block_length != 0 || o.kv_cache) throw Error("denoise_reference has no blocks and no KV cache");
  const InferenceScope scope(model);
  const torch::Device device = module_device(model);
  const double inf = std::numeric_limits<double>::infinity();
  torch::Tensor out = rows.tokens.to(torch::kCPU, torch::kInt64).clone();  // cpu: as the loop's canvases
  for (int64_t i = 0; i < out.size(0); ++i) {
    torch::Tensor x = out[i];  // a view: writes land in `out`
    const torch::Tensor gen = rows.generate[i].cpu(), span = rows.span[i].cpu(), prompt = rows.prompt[i].cpu();
    // A row shorter than the batch is read as the model reads any padded row: its padding hidden.
    const torch::Tensor valid =
        rows.valid[i].all().item<bool>() ? torch::Tensor() : rows.valid.narrow(0, i, 1).to(device);
    torch::Generator rng = cpu_generator(rows.seeds.at(static_cast<size_t>(i)));
    std::vector<int64_t> all;  // the generated positions
    for (int64_t p = 0; p < x.size(0); ++p) {
      if (gen[p].item<bool>()) all.push_back(p);
    }
    std::vector<bool> padded(static_cast<size_t>(x.size(0)), false);
    for (int64_t step = 0;; ++step) {
      std::vector<int64_t> masked;
      int64_t region = 0;  // generated positions not turned into padding
      for (int64_t p : all) {
        region += padded[static_cast<size_t>(p)] ? 0 : 1;
        if (x[p].item<int64_t>() == ids.mask) masked.push_back(p);
      }
      if (masked.empty()) break;
      // One full pass; t is the share of the row's generated (and counted fixed) positions still masked.
      const double share = static_cast<double>(masked.size()) /
                           std::max(1.0, static_cast<double>(region + rows.counted_fixed.at(static_cast<size_t>(i))));
      const torch::Tensor t = torch::full({1}, share, torch::TensorOptions().dtype(torch::kFloat32).device(device));
      torch::Tensor logits = model.forward_rows(x.unsqueeze(0).to(device), t, valid)[0];
      if (o.cfg_scale > 0) {  // guidance: the unconditional pass sees the prompt masked
        const torch::Tensor blind = x.masked_fill(prompt, ids.mask).unsqueeze(0).to(device);
        logits = guided_logits(logits, model.forward_rows(blind, t, valid)[0], o.cfg_scale);
      }
      // The masked positions' logits, [MASK] never drawn and no special token inside an infill span.
      const torch::Tensor where = torch::tensor(masked, torch::kInt64);  // cpu: positions in the canvas
      torch::Tensor lg = logits.index_select(0, where.to(device)).to(torch::kCPU, torch::kFloat32);  // cpu: draws
      lg.select(1, ids.mask).fill_(-inf);
      if (ids.vocab > 0 && ids.vocab < lg.size(1)) lg.slice(1, ids.vocab).fill_(-inf);
      for (int64_t banned : {ids.eos, ids.pad, ids.bos, ids.sep}) {
        if (banned >= 0) lg.select(1, banned).masked_fill_(span.index_select(0, where), -inf);
      }
      if (o.strategy == Strategy::kRemask) {  // fill every masked position, then mask a share of all again
        const torch::Tensor drawn = choose_tokens(lg, o, rng);
        for (size_t j = 0; j < masked.size(); ++j) x[masked[j]] = drawn[static_cast<int64_t>(j)];
        const double still =
            step + 1 < o.steps ? masked_fraction(o.schedule, static_cast<double>(step + 1) / o.steps) : 0.0;
        const auto again = static_cast<int64_t>(std::floor(still * static_cast<double>(region)));
        const int64_t n_all = static_cast<int64_t>(all.size());
        // cpu: drawn from the row's CPU stream
        const torch::Tensor order = torch::rand({n_all}, rng, torch::kFloat64).argsort(0, true);
        for (int64_t j = 0; j < again; ++j) x[all[static_cast<size_t>(order[j].item<int64_t>())]] = ids.mask;
        continue;
      }
      // Draw a token everywhere, score the positions, reveal those the rules pick.
      Candidates c;
      const torch::Tensor drawn = choose_tokens(lg, o, rng, &c.confidence);
      c.positions = where;
      if (o.strategy == Strategy::kMargin || o.strategy == Strategy::kEntropy || o.entropy_bound > 0.0) {
        c.probs = torch::softmax(lg.to(torch::kFloat64), -1);
      }
      const torch::Tensor scores = order_scores(o.strategy, c, rng);
      const int64_t k =
          scheduled_reveals(o.schedule, o.strategy, step, o.steps, static_cast<int64_t>(masked.size()), region);
      const torch::Tensor pick = pick_reveals(c, scores, k, o, rng);
      for (int64_t j = 0; j < pick.size(0); ++j)
        x[masked[static_cast<size_t>(pick[j].item<int64_t>())]] = drawn[pick[j].item<int64_t>()];
      // Everything generated after the first EOS outside a span becomes padding.
      size_t g = 0;
      while (g < all.size() && !(x[all[g]].item<int64_t>() == ids.eos && !span[all[g]].item<bool>())) ++g;
      for (size_t h = g + 1; ids.eos >= 0 && ids.pad >= 0 && h < all.size(); ++h) {
        x[all[h]] = ids.pad;
        padded[static_cast<size_t>(all[h])] = true;
      }
    }
  }
  return out;
}

}  // namespace dlm
