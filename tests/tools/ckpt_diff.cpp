// ckpt_diff A B: exits 0 when two checkpoints hold bit-identical model tensors and the same step,
// else prints the first difference and exits 1. Used by scripts/kill_resume.sh.
// ckpt_diff A B TOL: prints the largest absolute difference of any weight and exits 0 when it is at
// most TOL (runs that differ only in summation order, e.g. data-parallel ones).
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "dlm/error.h"
#include "dlm/model/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: ckpt_diff A.pt B.pt [TOLERANCE]\n");
    return 2;
  }
  const double tolerance = argc == 4 ? std::atof(argv[3]) : -1.0;
  return dlm::run_tool("ckpt_diff", [&] {
    // Each file is read once: its step and its weights come from the same reader.
    const auto open = [](const char* path, int64_t& step) {
      dlm::CheckpointReader reader(path);
      step = reader.state().step;
      auto model =
          dlm::make_model(reader.config().model, reader.tokenizer()->vocab_size(), reader.config().data.seq_len);
      reader.load_model(*model, torch::kCPU);
      return model;
    };
    int64_t step_a = 0, step_b = 0;
    const auto a = open(argv[1], step_a);
    const auto b = open(argv[2], step_b);
    if (step_a != step_b) {
      std::printf("steps differ: %ld vs %ld\n", static_cast<long>(step_a), static_cast<long>(step_b));
      return 1;
    }
    const auto pa = a->named_parameters();
    const auto pb = b->named_parameters();
    if (tolerance >= 0.0) {
      double largest = 0.0;
      for (const auto& item : pa) {
        const torch::Tensor* other = pb.find(item.key());
        if (!other || other->sizes() != item.value().sizes()) {
          std::printf("tensor %s is missing or has another shape\n", item.key().c_str());
          return 1;
        }
        largest = std::max(largest, (item.value() - *other).abs().max().item<double>());
      }
      std::printf("largest weight difference %.3g over %zu tensors at step %ld (tolerance %.3g)\n", largest, pa.size(),
                  static_cast<long>(step_a), tolerance);
      return largest <= tolerance ? 0 : 1;
    }
    for (const auto& item : pa) {
      const torch::Tensor* other = pb.find(item.key());
      if (!other || !torch::equal(item.value(), *other)) {
        std::printf("tensor %s differs\n", item.key().c_str());
        return 1;
      }
    }
    std::printf("identical: %zu tensors at step %ld\n", pa.size(), static_cast<long>(step_a));
    return 0;
  });
}
