// libFuzzer target: config parsing and validation. Any outcome but success or dlm::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dlm/config.h"
#include "dlm/error.h"
#include "dlm/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    dlm::Config config;
    dlm::apply_json(config, dlm::parse_json(text, "fuzz"));
    dlm::validate(config);
    dlm::Config again;
    dlm::apply_json(again, dlm::to_json(config));  // what we write, we can read
  } catch (const dlm::Error&) {
  }
  try {
    dlm::Config config;
    dlm::apply_override(config, text);
  } catch (const dlm::Error&) {
  }
  return 0;
}
