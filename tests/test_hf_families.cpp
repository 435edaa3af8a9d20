// The Hugging Face families (src/hf/family.cpp): the one list a config.json's model_type is looked up in.
#include <gtest/gtest.h>

#include <string>

#include "dlm/hf/family.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;

// The one list of families is where a model_type is looked up and what its refusal names, in order.
TEST(HfFamilies, EachModelTypeFindsItsFamilyAndAnUnknownOneIsRefusedWithTheList) {
  std::string names;
  for (const dlm::HfFamily* family : dlm::hf_families()) {
    EXPECT_EQ(&dlm::hf_family(family->model_type(), "config.json"), family);
    names += (names.empty() ? "" : ", ") + family->model_type();
  }
  EXPECT_EQ(names, "bert, roberta, modernbert");
  EXPECT_EQ(dlm::hf_model_types(), names);
  EXPECT_EQ(error_of([] { dlm::hf_family("gpt2", "config.json"); }),
            "config.json: model_type 'gpt2' is not supported (supported: " + names + ")");
}

}  // namespace
