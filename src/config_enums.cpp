// The config names of every enum-valued setting, one table per enum (read and written through
// parse_enum and enum_name in dlm/config.h).
#include <string>

#include "dlm/config.h"
#include "dlm/error.h"

namespace dlm {

const EnumNames<DataKind>& enum_names(DataKind*) {
  static const EnumNames<DataKind> names = {{DataKind::kLines, "lines"},
                                            {DataKind::kDocuments, "documents"},
                                            {DataKind::kPairs, "pairs"},
                                            {DataKind::kText, "text"},
                                            {DataKind::kCorpus, "corpus"}};
  return names;
}
const EnumNames<DataFormat>& enum_names(DataFormat*) {
  static const EnumNames<DataFormat> names = {{DataFormat::kAuto, "auto"},
                                              {DataFormat::kPlain, "plain"},
                                              {DataFormat::kJsonl, "jsonl"},
                                              {DataFormat::kTsv, "tsv"}};
  return names;
}
const EnumNames<WindowOffsets>& enum_names(WindowOffsets*) {
  static const EnumNames<WindowOffsets> names = {{WindowOffsets::kFixed, "fixed"}, {WindowOffsets::kRandom, "random"}};
  return names;
}
const EnumNames<TokenizerKind>& enum_names(TokenizerKind*) {
  static const EnumNames<TokenizerKind> names = {{TokenizerKind::kChar, "char"},
                                                 {TokenizerKind::kByte, "byte"},
                                                 {TokenizerKind::kBpe, "bpe"},
                                                 {TokenizerKind::kSentencePiece, "sentencepiece"},
                                                 {TokenizerKind::kHf, "hf"}};
  return names;
}
const EnumNames<SpmModelType>& enum_names(SpmModelType*) {
  static const EnumNames<SpmModelType> names = {{SpmModelType::kUnigram, "unigram"}, {SpmModelType::kBpe, "bpe"}};
  return names;
}
const EnumNames<ModelType>& enum_names(ModelType*) {
  static const EnumNames<ModelType> names = {{ModelType::kTransformer, "transformer"}, {ModelType::kMlp, "mlp"}};
  return names;
}
const EnumNames<AttentionKind>& enum_names(AttentionKind*) {
  static const EnumNames<AttentionKind> names = {
      {AttentionKind::kAuto, "auto"}, {AttentionKind::kFused, "fused"}, {AttentionKind::kExplicit, "explicit"}};
  return names;
}
const EnumNames<RateDist>& enum_names(RateDist*) {
  static const EnumNames<RateDist> names = {
      {RateDist::kDiscrete, "discrete"}, {RateDist::kUniform, "uniform"}, {RateDist::kAntithetic, "antithetic"}};
  return names;
}
const EnumNames<RatePer>& enum_names(RatePer*) {
  static const EnumNames<RatePer> names = {{RatePer::kSample, "sample"}, {RatePer::kBatch, "batch"}};
  return names;
}
const EnumNames<NormKind>& enum_names(NormKind*) {
  static const EnumNames<NormKind> names = {{NormKind::kLayerNorm, "layernorm"}, {NormKind::kRmsNorm, "rmsnorm"}};
  return names;
}
const EnumNames<PosKind>& enum_names(PosKind*) {
  static const EnumNames<PosKind> names = {{PosKind::kLearned, "learned"}, {PosKind::kRotary, "rotary"}};
  return names;
}
const EnumNames<TimeCond>& enum_names(TimeCond*) {
  static const EnumNames<TimeCond> names = {
      {TimeCond::kNone, "none"}, {TimeCond::kAdd, "add"}, {TimeCond::kAdaln, "adaln"}};
  return names;
}
const EnumNames<LossOn>& enum_names(LossOn*) {
  static const EnumNames<LossOn> names = {{LossOn::kMasked, "masked"}, {LossOn::kAll, "all"}};
  return names;
}
const EnumNames<Weighting>& enum_names(Weighting*) {
  static const EnumNames<Weighting> names = {{Weighting::kNone, "none"}, {Weighting::kElbo, "elbo"}};
  return names;
}
const EnumNames<Activation>& enum_names(Activation*) {
  static const EnumNames<Activation> names = {{Activation::kGelu, "gelu"},
                                              {Activation::kGeluTanh, "gelu_tanh"},
                                              {Activation::kRelu2, "relu2"},
                                              {Activation::kSwiglu, "swiglu"},
                                              {Activation::kGeglu, "geglu"}};
  return names;
}
const EnumNames<NormOrder>& enum_names(NormOrder*) {
  static const EnumNames<NormOrder> names = {{NormOrder::kPre, "pre"}, {NormOrder::kPost, "post"}};
  return names;
}
const EnumNames<Precision>& enum_names(Precision*) {
  static const EnumNames<Precision> names = {{Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}};
  return names;
}
const EnumNames<DistBackend>& enum_names(DistBackend*) {
  static const EnumNames<DistBackend> names = {
      {DistBackend::kAuto, "auto"}, {DistBackend::kGloo, "gloo"}, {DistBackend::kNccl, "nccl"}};
  return names;
}

const EnumNames<Schedule>& enum_names(Schedule*) {
  static const EnumNames<Schedule> names = {{Schedule::kLinear, "linear"},
                                            {Schedule::kCosine, "cosine"},
                                            {Schedule::kExponential, "exponential"},
                                            {Schedule::kLogLinear, "loglinear"}};
  return names;
}
const EnumNames<Strategy>& enum_names(Strategy*) {
  static const EnumNames<Strategy> names = {
      {Strategy::kConfidence, "confidence"}, {Strategy::kMargin, "margin"}, {Strategy::kEntropy, "entropy"},
      {Strategy::kRandom, "random"},         {Strategy::kL2R, "l2r"},       {Strategy::kRemask, "remask"},
      {Strategy::kOrigin, "origin"}};
  return names;
}
const EnumNames<Sampler>& enum_names(Sampler*) {
  static const EnumNames<Sampler> names = {
      {Sampler::kDlm, "dlm"}, {Sampler::kLlada, "llada"}, {Sampler::kDream, "dream"}};
  return names;
}
const EnumNames<Rng>& enum_names(Rng*) {
  static const EnumNames<Rng> names = {{Rng::kDlm, "dlm"}, {Rng::kTorch, "torch"}};
  return names;
}
const EnumNames<KvCacheMode>& enum_names(KvCacheMode*) {
  static const EnumNames<KvCacheMode> names = {{KvCacheMode::kDual, "dual"}, {KvCacheMode::kPrefix, "prefix"}};
  return names;
}
const EnumNames<Sampling>& enum_names(Sampling*) {
  static const EnumNames<Sampling> names = {
      {Sampling::kGreedy, "greedy"}, {Sampling::kTopK, "topk"}, {Sampling::kNucleus, "nucleus"}};
  return names;
}

void throw_unknown_name(const std::string& what, const std::string& name, const std::string& valid) {
  throw Error("unknown " + what + " '" + name + "' (valid: " + valid + ")");
}

}  // namespace dlm
