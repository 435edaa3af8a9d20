// Safetensors: every dtype round-trips; a file from Python's safetensors reads back exactly; each kind of
// malformed file or folder is one line naming it; sharded folders read through their index.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/hf/safetensors.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using dlm_test::error_of;
using dlm_test::fresh_dir;
using Named = std::vector<std::pair<std::string, torch::Tensor>>;

// A safetensors image: the 8-byte little-endian header length, the header, the data. `align` pads the
// header with spaces so the data starts 8-byte aligned, as writers do.
std::string image(std::string header, const std::string& data = "", bool align = true) {
  if (align) header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string parse_error(const std::string& bytes) {
  return error_of(
      [&] { dlm::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.safetensors"); });
}

std::string bytes_of(float v) {
  std::string s(4, '\0');
  std::memcpy(&s[0], &v, 4);
  return s;
}

TEST(Safetensors, RoundTripsEveryDtypeShapeAndMetadata) {
  torch::manual_seed(5);
  const Named tensors = {
      {"z_last_given_first", torch::randn({2, 3}, torch::kFloat64)},
      {"f32", torch::randn({3})},
      {"f16", torch::randn({2, 2}).to(torch::kFloat16)},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"i64", torch::tensor({-(int64_t{1} << 40), int64_t{7}})},
      {"i32", torch::randint(-100000, 100000, {4}, torch::kInt32)},
      {"i16", torch::randint(-30000, 30000, {3}, torch::kInt16)},
      {"i8", torch::randint(-128, 128, {7}, torch::kInt8)},
      {"u8", torch::randint(0, 256, {3}, torch::kUInt8)},
      {"bool", torch::randint(0, 2, {2, 2}).to(torch::kBool)},
      {"scalar", torch::scalar_tensor(3.5, torch::kFloat32)},
      {"empty", torch::zeros({0, 3}, torch::kFloat16)},
  };
  const std::string path = testing::TempDir() + "/round_trip.safetensors";
  dlm::save_safetensors(path, tensors, {{"run", "7"}});
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const dlm::SafetensorsFile file(path);
  EXPECT_EQ(file.metadata(), nlohmann::json({{"format", "pt"}, {"run", "7"}}));
  std::vector<std::string> names, sorted;
  for (const auto& e : file.entries()) names.push_back(e.name);
  for (const auto& [name, t] : tensors) sorted.push_back(name);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(names, sorted);
  for (const auto& [name, expected] : tensors) {
    const torch::Tensor t = file.tensor(name);
    EXPECT_EQ(t.scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), expected.sizes()) << name;
    EXPECT_TRUE(torch::equal(t, expected)) << name;
    // The writer's layout keeps every tensor aligned, so none needs the reader's copy.
    EXPECT_EQ(file.entry(name).begin % expected.element_size(), 0u) << name;
  }
  EXPECT_EQ(file.tensor("scalar").dim(), 0);
}

TEST(Safetensors, WritesNonContiguousAndSparseInputs) {
  const torch::Tensor base = torch::arange(12, torch::kFloat32).reshape({3, 4});
  const Named tensors = {{"transposed", base.t()},
                         {"strided", base.slice(1, 0, 4, 2)},
                         {"expanded", torch::arange(3, torch::kInt64).expand({2, 3})},
                         {"sparse", torch::eye(3).to_sparse()}};
  ASSERT_FALSE(tensors[0].second.is_contiguous());
  const std::string path = testing::TempDir() + "/strided.safetensors";
  dlm::save_safetensors(path, tensors);
  const dlm::SafetensorsFile file(path);
  EXPECT_TRUE(torch::equal(file.tensor("transposed"), base.t().contiguous()));
  EXPECT_TRUE(torch::equal(file.tensor("strided"), torch::tensor({{0.f, 2.f}, {4.f, 6.f}, {8.f, 10.f}})));
  EXPECT_TRUE(torch::equal(file.tensor("expanded"), torch::tensor({{0, 1, 2}, {0, 1, 2}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(file.tensor("sparse"), torch::eye(3)));
}

// tests/fixtures/safetensors/python.safetensors, written by make.py beside it with these values.
TEST(Safetensors, ReadsTheFileThatPythonsSafetensorsWrote) {
  const dlm::SafetensorsFile file(std::string(DLM_SOURCE_DIR) + "/tests/fixtures/safetensors/python.safetensors");
  EXPECT_EQ(file.metadata(), nlohmann::json({{"format", "pt"}, {"source", "make.py"}}));
  std::vector<std::string> names;
  for (const auto& e : file.entries()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"embed.weight", "layer.0.bias", "mask", "position_ids", "scale"}));
  const torch::Tensor embed = file.tensor("embed.weight");
  EXPECT_EQ(embed.scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(embed.to(torch::kFloat32), torch::tensor({{0.5f, -1.25f, 2.f}, {3.f, -0.125f, 1024.f}})));
  const torch::Tensor bias = file.tensor("layer.0.bias");
  EXPECT_EQ(bias.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bias.to(torch::kFloat32), torch::tensor({1.5f, -2.f, 0.0078125f, 65280.f})));
  const torch::Tensor ids = file.tensor("position_ids");
  EXPECT_EQ(ids.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(ids, torch::tensor(std::vector<int64_t>{0, 1, 2, -7, int64_t{1} << 40}).reshape({1, 5})));
  EXPECT_TRUE(torch::equal(file.tensor("mask"), torch::tensor({true, false, true})));
  const torch::Tensor scale = file.tensor("scale");
  EXPECT_EQ(scale.dim(), 0);
  EXPECT_EQ(scale.item<float>(), 0.25f);
}

TEST(Safetensors, TensorsOutliveTheFileAndNeverWriteToIt) {
  const std::string path = testing::TempDir() + "/outlive.safetensors";
  dlm::save_safetensors(path, {{"w", torch::arange(6, torch::kFloat32)}});
  const std::string before = dlm::read_file(path);
  torch::Tensor w;
  {
    const dlm::SafetensorsFile file(path);
    w = file.tensor("w");
    EXPECT_EQ(file.tensor("w").data_ptr(), w.data_ptr());  // both over the mapping, not copies
  }
  EXPECT_TRUE(torch::equal(w, torch::arange(6, torch::kFloat32)));  // the mapping is still there
  w.add_(1);  // the mapping is copy-on-write: no fault, and the file keeps its bytes
  EXPECT_EQ(dlm::read_file(path), before);
  EXPECT_TRUE(torch::equal(dlm::SafetensorsFile(path).tensor("w"), torch::arange(6, torch::kFloat32)));
}

TEST(Safetensors, MisalignedDataIsCopied) {
  // A one-byte U8 tensor puts the F32 tensor at an odd address of the mapping.
  const std::string path = testing::TempDir() + "/misaligned.safetensors";
  dlm::write_atomically(path, image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})",
                                    "\x07" + bytes_of(1.5f) + bytes_of(-3.f)));
  const dlm::SafetensorsFile file(path);
  const torch::Tensor b = file.tensor("b");
  EXPECT_TRUE(torch::equal(b, torch::tensor({1.5f, -3.f})));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) % 4, 0u);
  EXPECT_EQ(file.tensor("a").item<uint8_t>(), 7);
}

// Each way a header can be wrong, and the one line that names it.
TEST(Safetensors, EveryMalformedImageIsOneLineNamingTheProblem) {
  const auto one = [](const std::string& fields) { return R"({"a":{)" + fields + "}}"; };
  const std::string f32 = R"("dtype":"F32",)", shape2 = R"("shape":[2],)", at0 = R"("data_offsets":[0,8])";
  const std::string eight(8, '\0');
  std::string huge(8, '\0');
  huge[7] = '\x40';  // 2^62
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "file too short for a safetensors header (0 bytes"},
      {std::string(7, '\0'), "file too short for a safetensors header (7 bytes"},
      {image("{}").substr(0, 8) + "{}", "header length 8 runs past the end of the file (10 bytes"},
      {huge, "header length 4611686018427387904 is over the 100 MB limit"},
      {image("{nope"), "header is not valid JSON"},
      {image(std::string("{}\0{\"a\":5}", 10)), "header is not valid JSON (a NUL byte at offset 2)"},
      {image("[1,2]"), "header is a JSON array, not an object"},
      {image(R"({"a":5})"), "tensor 'a': its entry is a number, not an object"},
      {image(one(shape2 + at0), eight), "tensor 'a': \"dtype\" is missing or not a string"},
      {image(one(R"("dtype":32,)" + shape2 + at0), eight), "\"dtype\" is missing or not a string"},
      {image(one(R"("dtype":"F8_E4M3",)" + shape2 + at0), eight), "unknown dtype 'F8_E4M3' for tensor 'a'"},
      {image(one(f32 + at0), eight), "tensor 'a': \"shape\" is missing or not an array"},
      {image(one(f32 + R"("shape":2,)" + at0), eight), "\"shape\" is missing or not an array"},
      {image(one(f32 + R"("shape":[2.0],)" + at0), eight), "\"shape\" holds a number, not a size"},
      {image(one(f32 + R"("shape":["2"],)" + at0), eight), "\"shape\" holds a string, not a size"},
      {image(one(f32 + R"("shape":[-2],)" + at0), eight), "\"shape\" has a negative size (-2)"},
      {image(one(f32 + R"("shape":[4294967296,4294967296],)" + at0), eight), "too many elements"},
      {image(one(f32 + R"("shape":[0,4294967296,4294967296],)" + at0), eight), "too many elements"},
      {image(one(f32 + R"("shape":[2])"), eight), "\"data_offsets\" must be two non-negative integers"},
      {image(one(f32 + shape2 + R"("data_offsets":[0,4,8])"), eight), "must be two non-negative integers"},
      {image(one(f32 + shape2 + R"("data_offsets":[-1,7])"), eight), "must be two non-negative integers"},
      {image(one(f32 + shape2 + R"("data_offsets":["0","8"])"), eight), "must be two non-negative integers"},
      {image(one(f32 + R"("shape":[0],"data_offsets":[8,0])"), eight), "\"data_offsets\" [8,0] begin after they end"},
      {image(one(f32 + shape2 + at0), "1234"), "end 8 is past the end of the data (4 bytes"},
      {image(one(f32 + R"("shape":[3],)" + at0), eight), "shape [3] of F32 does not match the 8 bytes"},
      {image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             std::string(12, '\0')),
       "tensors 'a' and 'b' overlap in the data (bytes [0, 8) and [4, 12))"},
      {image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
             std::string(12, '\0')),
       "bytes [4, 8) of the data are a gap"},
      {image(one(f32 + shape2 + at0), std::string(12, '\0')), "bytes [8, 12) of the data are a gap"},
      {image(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],)"
             R"("data_offsets":[0,0]}})"),
       "tensor 'a' appears twice in the header"},
      {image(one(R"("dtype":"F32","dtype":"F32",)" + shape2 + at0), eight), "key 'dtype' appears twice"},
      {image(R"({"__metadata__":3})"), "\"__metadata__\" must be an object of strings"},
      {image(R"({"__metadata__":{"k":1}})"), "\"__metadata__\" must be an object of strings"},
      {image(R"({"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "\x02"), "holds the byte 2"},
      {image(R"({"a\nb":{"dtype":"X","shape":[],"data_offsets":[0,0]}})"), "unknown dtype 'X' for tensor 'a\\nb'"},
  };
  for (const auto& [bytes, expected] : cases) {
    const std::string message = parse_error(bytes);
    EXPECT_NE(message.find(expected), std::string::npos) << "expected: " << expected << "\ngot: " << message;
    EXPECT_EQ(message.rfind("x.safetensors: ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(Safetensors, AcceptsEmptyAndZeroSizedTensors) {
  EXPECT_TRUE(dlm::parse_safetensors(reinterpret_cast<const uint8_t*>(image("{}").data()), 16, "e").empty());
  const std::string zero = image(R"({"a":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}})");
  const auto entries = dlm::parse_safetensors(reinterpret_cast<const uint8_t*>(zero.data()), zero.size(), "z");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].shape, (std::vector<int64_t>{0, 5}));
}

TEST(Safetensors, UnsupportedDtypesAreNamed) {
  for (const char* dtype : {"F8_E4M3", "F8_E5M2", "U16", "U32", "U64", "C64", "F4", "f32"}) {
    const std::string bytes =
        image(R"({"w":{"dtype":")" + std::string(dtype) + R"(","shape":[],"data_offsets":[0,0]}})");
    EXPECT_NE(parse_error(bytes).find("unknown dtype '" + std::string(dtype) + "' for tensor 'w'"), std::string::npos)
        << dtype;
  }
}

TEST(Safetensors, FilesThatCannotBeReadAreOneLineNamingThePath) {
  const std::string dir = fresh_dir("safetensors_files");
  const std::string empty = dir + "/empty.safetensors";
  dlm::write_atomically(empty, std::string());
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFile f(empty); }),
            empty + ": file too short for a safetensors header (0 bytes, need 8 or more)");
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFile f(dir); }), dir + ": is a directory, expected a safetensors file");
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFile f(dir + "/none"); }),
            dir + "/none: cannot open file (No such file or directory)");
  const std::string path = dir + "/one.safetensors";
  dlm::save_safetensors(path, {{"w", torch::ones({2})}});
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFile(path).entry("v"); }), path + ": no tensor 'v' in this file");
}

TEST(Safetensors, SaveRefusesWhatItCannotWrite) {
  const std::string path = testing::TempDir() + "/refused.safetensors";
  fs::remove(path);
  const auto saving = [&](const Named& tensors) { return error_of([&] { dlm::save_safetensors(path, tensors); }); };
  EXPECT_EQ(saving({{"a", torch::ones({1})}, {"a", torch::ones({2})}}), path + ": tensor 'a' is given twice");
  EXPECT_NE(saving({{"c", torch::ones({2}, torch::kComplexFloat)}}).find(path + ": tensor 'c' has dtype ComplexFloat"),
            std::string::npos);
  EXPECT_NE(saving({{"__metadata__", torch::ones({1})}}).find("reserved"), std::string::npos);
  EXPECT_NE(saving({{"u", torch::Tensor()}}).find("tensor 'u' is undefined"), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
}

// Two shards and an index naming them: s1 holds a and b, s2 holds c.
std::string sharded_folder(const std::string& name, const std::string& index) {
  const std::string dir = fresh_dir("safetensors_" + name);
  dlm::save_safetensors(dir + "/s1.safetensors",
                        {{"a", torch::arange(4, torch::kFloat16)}, {"b", torch::ones({2, 2})}});
  dlm::save_safetensors(dir + "/s2.safetensors", {{"c", torch::tensor({5, 6}, torch::kInt64)}});
  dlm::write_atomically(dir + "/model.safetensors.index.json", index);
  return dir;
}

TEST(Safetensors, ShardedFolderReadsEveryTensorThroughItsIndex) {
  const std::string dir = sharded_folder(
      "sharded", R"({"metadata":{"total_size":32},"weight_map":{"a":"s1.safetensors","b":"s1.safetensors",)"
                 R"("c":"s2.safetensors"}})");
  const dlm::SafetensorsFolder folder(dir);
  EXPECT_EQ(folder.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(torch::equal(folder.tensor("a"), torch::arange(4, torch::kFloat16)));
  EXPECT_TRUE(torch::equal(folder.tensor("b"), torch::ones({2, 2})));
  EXPECT_TRUE(torch::equal(folder.tensor("c"), torch::tensor({5, 6}, torch::kInt64)));
  EXPECT_EQ(folder.entry("c").dtype, torch::kInt64);
  EXPECT_FALSE(folder.contains("d"));
  EXPECT_EQ(error_of([&] { folder.tensor("d"); }), dir + ": no tensor 'd' in this folder's weights");
  // A single file wins over an index beside it, as in transformers.
  dlm::save_safetensors(dir + "/model.safetensors", {{"whole", torch::ones({1})}});
  EXPECT_EQ(dlm::SafetensorsFolder(dir).names(), std::vector<std::string>{"whole"});
}

TEST(Safetensors, BadIndexesAreOneLineNamingTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{nope", "index is not valid JSON"},
      {R"({"metadata":{}})", "no \"weight_map\" object"},
      {R"({"weight_map":["s1.safetensors"]})", "no \"weight_map\" object"},
      {R"({"weight_map":{"a":1}})", "places tensor 'a' in a number, not in a shard file"},
      {R"({"weight_map":{"a":"../s1.safetensors"}})", "in '../s1.safetensors', a path that escapes the folder"},
      {R"({"weight_map":{"a":"/etc/passwd"}})", "a path that escapes the folder"},
      {R"({"weight_map":{"a":"s9.safetensors"}})", "places tensor 'a' in 's9.safetensors', which is missing"},
      {R"({"weight_map":{"c":"s1.safetensors"}})", "places tensor 'c' in 's1.safetensors', which does not hold it"},
      {R"({"weight_map":{"a":"s1.safetensors","a":"s2.safetensors"}})", "key 'a' appears twice"},
  };
  for (const auto& [index, expected] : cases) {
    const std::string dir = sharded_folder("bad_index", index);
    const std::string message = error_of([&] { dlm::SafetensorsFolder f(dir); });
    EXPECT_EQ(message.rfind(dir + "/model.safetensors.index.json: ", 0), 0u) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << "expected: " << expected << "\ngot: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // s3 holds a second copy of a, which the index places in s1.
  const std::string dir = sharded_folder("twice", R"({"weight_map":{"a":"s1.safetensors","d":"s3.safetensors"}})");
  dlm::save_safetensors(dir + "/s3.safetensors", {{"a", torch::zeros({4})}, {"d", torch::zeros({1})}});
  EXPECT_NE(error_of([&] { dlm::SafetensorsFolder f(dir); }).find("tensor 'a' is in two shards"), std::string::npos);
}

TEST(Safetensors, FolderWithoutSafetensorsSaysWhatToDo) {
  const std::string bin = fresh_dir("safetensors_bin_only");
  dlm::write_atomically(bin + "/pytorch_model.bin", std::string("pickle"));
  const std::string message = error_of([&] { dlm::SafetensorsFolder f(bin); });
  EXPECT_EQ(message.rfind(bin + " holds pytorch_model.bin but no model.safetensors: dlm reads safetensors only; ", 0),
            0u)
      << message;
  EXPECT_NE(message.find("save_pretrained(\"" + bin + "\", safe_serialization=True)"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  const std::string shards = fresh_dir("safetensors_bin_shards");
  dlm::write_atomically(shards + "/pytorch_model-00001-of-00002.bin", std::string("pickle"));
  EXPECT_NE(error_of([&] { dlm::SafetensorsFolder f(shards); }).find("holds pytorch_model-00001-of-00002.bin but no"),
            std::string::npos);
  const std::string empty = fresh_dir("safetensors_no_weights");
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFolder f(empty); }),
            empty + ": no model.safetensors or model.safetensors.index.json (not a Hugging Face model folder?)");
  EXPECT_EQ(error_of([&] { dlm::SafetensorsFolder f(empty + "/gone"); }), empty + "/gone: no such folder");
}

TEST(Safetensors, FolderDtypeIsTheMostCommonFloatingType) {
  const auto dtype_of = [](const std::string& name, const Named& tensors) {
    const std::string dir = fresh_dir("safetensors_" + name);
    dlm::save_safetensors(dir + "/model.safetensors", tensors);
    return dlm::SafetensorsFolder(dir).dtype();
  };
  const auto bf16 = torch::ones({1}, torch::kBFloat16), ids = torch::ones({1}, torch::kInt64);
  EXPECT_EQ(
      dtype_of("mostly_bf16", {{"a", bf16}, {"b", bf16}, {"c", torch::ones({1})}, {"i", ids}, {"j", ids}, {"k", ids}}),
      torch::kBFloat16);
  EXPECT_EQ(dtype_of("mostly_f16", {{"a", torch::ones({1}, torch::kFloat16)},
                                    {"b", torch::ones({1}, torch::kFloat16)},
                                    {"c", torch::ones({1}, torch::kFloat64)}}),
            torch::kFloat16);
  EXPECT_EQ(dtype_of("ints_only", {{"i", ids}}), torch::kFloat32);
  EXPECT_EQ(dtype_of("no_tensors", {}), torch::kFloat32);
}

}  // namespace
