// libFuzzer target: checkpoint loading from arbitrary bytes (truncated, corrupted, foreign files).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/dlm_fuzz_checkpoint_" + std::to_string(::getpid()) + ".pt";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    dlm::load_model_for_inference(path, torch::kCPU, dlm::make_process_model);
  } catch (const dlm::Error&) {
  }
  return 0;
}
