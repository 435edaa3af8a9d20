// Prompts to canvases, batches through the config's process (a denoiser's or the twin's sampler), canvases to text.
#include "dlm/generate/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dlm/device.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "dlm/utf8.h"

namespace dlm {
namespace {

// A prompt laid out as a canvas, and what decoding it back needs.
struct Layout {
  std::vector<int64_t> ids;  // the canvas: fixed ids, mask ids where generated
  std::vector<bool> generate, span, prompt;
  int64_t counted_fixed = 0;
  int64_t lead = 0, trail = 0;  // ids of the tokenizer's template before and after the text
  bool infill = false;
  std::string prefix;  // prefix mode
  bool answer_only = false;
  std::vector<int64_t> prefix_ids;
  InfillTemplate tmpl;  // infill mode
  std::vector<std::vector<int64_t>> text_ids;
  std::vector<int64_t> span_start;
};

// Documents (lines, documents, pairs) were trained as text, EOS, padding: an infill template is laid
// out the same way.
bool whole_documents(const Config& c) {
  return c.data.kind == DataKind::kLines || c.data.kind == DataKind::kDocuments || c.data.kind == DataKind::kPairs;
}

// LLaDA's and Dream's samplers lay the canvas out and cut the text their references' way.
bool reference_sampler(const SampleConfig& o) { return o.sampler != Sampler::kDlm; }

void push(Layout& l, int64_t id, bool generate, bool span, bool prompt) {
  l.ids.push_back(id);
  l.generate.push_back(generate);
  l.span.push_back(span);
  l.prompt.push_back(prompt);
}

// The fixed ids a pretrained model's tokenizer puts around a text ([CLS] before, [SEP] after); dlm's
// own tokenizers have none.
void push_fixed(Layout& l, const std::vector<int64_t>& ids) {
  for (int64_t id : ids) push(l, id, false, false, true);
}

Layout lay_out_prefix(const Prompt& p, const Tokenizer& tok, const Config& config, int64_t context,
                      const SampleConfig& o) {
  const int64_t length = o.length;
  Layout l;
  utf8_decode(p.prefix, "the prefix");  // names the offset of a byte that is not UTF-8
  l.prefix = p.prefix;
  l.answer_only = p.answer_only;
  l.prefix_ids = tok.encode(p.prefix);
  const std::vector<int64_t> before = tok.template_before(), after = tok.template_after();
  l.lead = static_cast<int64_t>(before.size());
  l.trail = static_cast<int64_t>(after.size());
  const int64_t P = static_cast<int64_t>(l.prefix_ids.size()), fixed = P + l.lead + l.trail;
  if (fixed >= context) {
    throw Error("prefix is " + std::to_string(fixed) + " tokens" +
                (l.lead + l.trail > 0 ? " with the tokenizer's template" : "") + " but the model's context is " +
                std::to_string(context) + "; shorten the prefix");
  }
  const int64_t n_new = length > 0 ? length : context - fixed;
  if (fixed + n_new > context) {
    throw Error("prefix (" + std::to_string(fixed) + " tokens) + length " + std::to_string(n_new) +
                " exceed the model's context of " + std::to_string(context) + " tokens");
  }
  push_fixed(l, before);
  push_fixed(l, l.prefix_ids);
  if (reference_sampler(o)) {
    // LLaDA's and Dream's canvas: the ids AutoTokenizer(text) gives, template included, then the masks.
    push_fixed(l, after);
    l.trail = 0;
  }
  for (int64_t i = 0; i < n_new; ++i) push(l, tok.mask_id(), true, false, false);
  if (!reference_sampler(o)) push_fixed(l, after);
  l.counted_fixed = counted_prefix_tokens(config, P);
  return l;
}

Layout lay_out_infill(const Prompt& p, const Tokenizer& tok, const Config& config, int64_t context) {
  Layout l;
  l.infill = true;
  utf8_decode(p.infill, "the infill template");
  l.tmpl = parse_infill(p.infill);
  const std::vector<int64_t> after = tok.template_after();
  push_fixed(l, tok.template_before());
  int64_t fixed = 0;
  for (size_t s = 0; s < l.tmpl.texts.size(); ++s) {
    l.text_ids.push_back(tok.encode(l.tmpl.texts[s]));
    for (int64_t id : l.text_ids.back()) push(l, id, false, false, true);
    fixed += static_cast<int64_t>(l.text_ids.back().size());
    if (s == l.tmpl.spans.size()) break;
    l.span_start.push_back(static_cast<int64_t>(l.ids.size()));
    for (int64_t i = 0; i < l.tmpl.spans[s]; ++i) push(l, tok.mask_id(), true, true, false);
  }
  push_fixed(l, after);
  if (static_cast<int64_t>(l.ids.size()) > context) {
    throw Error("infill template is " + std::to_string(l.ids.size()) + " tokens but the model's context is " +
                std::to_string(context));
  }
  // A tokenizer's template ends the text itself; dlm's documents end in EOS and padding.
  if (after.empty() && whole_documents(config) && static_cast<int64_t>(l.ids.size()) < context) {
    push(l, tok.eos_id(), false, false, true);
    ++fixed;
    while (static_cast<int64_t>(l.ids.size()) < context) push(l, tok.pad_id(), false, false, true);
  }
  l.counted_fixed = counted_prefix_tokens(config, fixed);
  return l;
}

// `ids` decoded after `before`, so a subword tokenizer keeps the space that starts the first new word.
std::string decode_after(const Tokenizer& tok, const std::vector<int64_t>& before, const std::vector<int64_t>& ids) {
  std::vector<int64_t> both = before;
  both.insert(both.end(), ids.begin(), ids.end());
  const std::string joined = tok.decode(both), head = tok.decode(before);
  return joined.compare(0, head.size(), head) == 0 ? joined.substr(head.size()) : tok.decode(ids);
}

// The ids a tokenizer can decode: a model's rows beyond its tokenizer (LLaDA's embedding_size) may win
// the references' argmax, which covers the whole row; they have no text.
std::vector<int64_t> decodable(std::vector<int64_t> ids, const Tokenizer& tok) {
  ids.erase(std::remove_if(ids.begin(), ids.end(), [&](int64_t id) { return id < 0 || id >= tok.vocab_size(); }),
            ids.end());
  return ids;
}

// Cuts `text` at the first occurrence of any stop string; true when one was found.
bool cut_at_stop(std::string& text, const std::vector<std::string>& stops) {
  size_t first = std::string::npos;
  for (const auto& s : stops) first = std::min(first, text.find(s));
  if (first == std::string::npos) return false;
  text.resize(first);
  return true;
}

// The generated ids up to EOS (padding dropped) and before the first of `stop_ids` (chat: the end of turn).
std::vector<int64_t> generated_ids(const std::vector<int64_t>& ids, const Tokenizer& tok,
                                   const std::vector<int64_t>& stop_ids) {
  std::vector<int64_t> out = cut_at_eos(ids, tok.eos_id(), tok.pad_id());
  out.erase(std::find_first_of(out.begin(), out.end(), stop_ids.begin(), stop_ids.end()), out.end());
  return out;
}

void decode_row(const Layout& l, const std::vector<int64_t>& row, const Tokenizer& tok, const SampleConfig& o,
                const std::vector<int64_t>& stop_ids, TextSample& out) {
  if (l.infill) {
    for (size_t p = 0; p < row.size(); ++p) (l.generate[p] ? out.gen_ids : out.prompt_ids).push_back(row[p]);
    out.text = l.tmpl.texts[0];
    for (size_t s = 0; s < l.tmpl.spans.size(); ++s) {
      const auto from = row.begin() + l.span_start[s];
      const std::vector<int64_t> fill(from, from + l.tmpl.spans[s]);
      out.ids.insert(out.ids.end(), fill.begin(), fill.end());
      out.text += decode_after(tok, l.text_ids[s], fill) + l.tmpl.texts[s + 1];
    }
    return;
  }
  const int64_t P = l.lead + static_cast<int64_t>(l.prefix_ids.size());
  const auto first = std::find(l.generate.begin(), l.generate.end(), true) - l.generate.begin();
  out.prompt_ids.assign(row.begin(), row.begin() + first);
  out.gen_ids.assign(row.begin() + first, row.end() - l.trail);
  // The references' samplers pad nothing: the text ends at the first EOS (or end of turn), the ids are all kept.
  out.ids = o.sampler == Sampler::kDlm
                ? generated_ids(std::vector<int64_t>(row.begin() + P, row.end() - l.trail), tok, stop_ids)
                : decodable(generated_ids(out.gen_ids, tok, stop_ids), tok);
  std::string body = decode_after(tok, l.prefix_ids, out.ids);
  cut_at_stop(body, o.stop);
  out.text = (l.answer_only ? "" : l.prefix) + body;
}

// The rows of a timeline step; `confidence` (B, W), when defined, shades each generated piece.
std::vector<StepRow> render(const torch::Tensor& canvas, const std::vector<int64_t>& samples,
                            const std::vector<const Layout*>& layouts, const Tokenizer& tok,
                            const torch::Tensor& confidence = {}) {
  std::vector<StepRow> rows;
  for (size_t r = 0; r < samples.size(); ++r) {
    const Layout& l = *layouts[r];
    StepRow row;
    row.sample = samples[r];
    int64_t masked = 0, generated = 0;
    double sure = 0.0;
    const int64_t width = static_cast<int64_t>(l.ids.size());
    for (int64_t p = 0; p < width; ++p) {
      const int64_t id = canvas[static_cast<int64_t>(r)][p].item<int64_t>();
      row.pieces.push_back(show_piece(tok, id));
      row.canvas += row.pieces.back();
      const bool gen = l.generate[static_cast<size_t>(p)];
      generated += gen ? 1 : 0;
      masked += gen && id == tok.mask_id() ? 1 : 0;
      if (confidence.defined()) {
        row.shade.push_back(gen ? confidence[static_cast<int64_t>(r)][p].item<double>() : 0.0);
        sure += row.shade.back();
      }
    }
    row.masked = generated > 0 ? static_cast<double>(masked) / static_cast<double>(generated) : 0.0;
    if (confidence.defined() && generated > 0) row.confidence = sure / static_cast<double>(generated);
    rows.push_back(std::move(row));
  }
  return rows;
}

// One batch through the process's sampler: canvases padded to the widest, each row on its own stream.
void run_batch(DenoiserImpl& model, const Process& process, const Tokenizer& tok, const GenerateOptions& o,
               const std::vector<int64_t>& samples, const std::vector<const Layout*>& layouts, GenerateReport& report,
               const TimelineCallback& on_step) {
  const int64_t B = static_cast<int64_t>(samples.size());
  int64_t W = 0;
  for (const Layout* l : layouts) W = std::max<int64_t>(W, static_cast<int64_t>(l->ids.size()));
  DenoiseRows rows;
  rows.tokens = torch::full({B, W}, tok.pad_id(), torch::kInt64);  // cpu: the loop's bookkeeping is on the CPU
  rows.generate = torch::zeros({B, W}, torch::kBool);              // cpu: as the tokens
  rows.valid = torch::zeros({B, W}, torch::kBool);                 // cpu: as the tokens
  rows.span = torch::zeros({B, W}, torch::kBool);                  // cpu: as the tokens
  rows.prompt = torch::zeros({B, W}, torch::kBool);                // cpu: as the tokens
  auto ids = rows.tokens.accessor<int64_t, 2>();
  auto gen = rows.generate.accessor<bool, 2>(), valid = rows.valid.accessor<bool, 2>();
  auto span = rows.span.accessor<bool, 2>(), prompt = rows.prompt.accessor<bool, 2>();
  for (int64_t r = 0; r < B; ++r) {
    const Layout& l = *layouts[static_cast<size_t>(r)];
    for (size_t p = 0; p < l.ids.size(); ++p) {
      ids[r][p] = l.ids[p];
      gen[r][p] = l.generate[p];
      valid[r][p] = true;
      span[r][p] = l.span[p];
      prompt[r][p] = l.prompt[p];
    }
    rows.counted_fixed.push_back(l.counted_fixed);
    rows.seed = o.seed;
    rows.seeds.push_back(
        derive_seed(o.seed, Stream::kSampling, static_cast<uint64_t>(samples[static_cast<size_t>(r)])));
  }
  StepCallback show = nullptr;
  if (on_step) {
    const int64_t planned = process.planned_steps(o.sample, rows);
    show = [&, planned](const SamplerStep& s) {
      on_step(s.step + 1, planned, render(s.canvas, samples, layouts, tok, s.probability));
    };
  }
  StopCheck stop = nullptr;
  if (!o.sample.stop.empty()) {
    stop = [&](int64_t r, const std::vector<int64_t>& so_far) {
      const Layout& l = *layouts[static_cast<size_t>(r)];
      if (l.infill) return false;
      const std::vector<int64_t> body(so_far.begin() + static_cast<std::ptrdiff_t>(l.lead + l.prefix_ids.size()),
                                      so_far.end());
      std::string text = decode_after(tok, l.prefix_ids, generated_ids(body, tok, o.stop_ids));
      return cut_at_stop(text, o.sample.stop);
    };
  }
  const DenoiseResult result = process.sample(model, rows, o.sample, show, stop);
  report.forward_calls += result.forward_calls;
  report.cache_bytes = std::max(report.cache_bytes, result.cache_bytes);
  for (int64_t r = 0; r < B; ++r) {
    const Layout& l = *layouts[static_cast<size_t>(r)];
    const torch::Tensor row = result.tokens[r];
    const std::vector<int64_t> canvas(row.data_ptr<int64_t>(),
                                      row.data_ptr<int64_t>() + static_cast<int64_t>(l.ids.size()));
    TextSample& out = report.samples[static_cast<size_t>(samples[static_cast<size_t>(r)])];
    decode_row(l, canvas, tok, o.sample, o.stop_ids, out);
    out.stats = result.rows[static_cast<size_t>(r)];
  }
}

// Rows per batch when none is asked for: as many as keep a batch's logits and activations near
// 1 GiB (the widest prompt decides), at most 64.
int64_t rows_that_fit(const Config& c, const std::vector<Layout>& layouts, int64_t vocab) {
  size_t width = 1;
  for (const Layout& l : layouts) width = std::max(width, l.ids.size());
  const double per_position =
      4.0 * (2.0 * static_cast<double>(vocab) + 16.0 * static_cast<double>(c.model.d_model * c.model.n_layer));
  const double rows = static_cast<double>(int64_t{1} << 30) / (per_position * static_cast<double>(width));
  return std::clamp<int64_t>(static_cast<int64_t>(rows), 1, 64);
}

}  // namespace

GenerateReport generate_text(DenoiserImpl& model, const Tokenizer& tok, const Config& config,
                             const std::vector<Prompt>& prompts, const GenerateOptions& o,
                             const TimelineCallback& on_step, const ProgressCallback& on_progress) {
  if (o.num_samples < 1) throw Error("num_samples must be >= 1, got " + std::to_string(o.num_samples));
  if (o.batch_size < 0)
    throw Error("batch size must be >= 0 (0: as many rows as fit), got " + std::to_string(o.batch_size));
  const std::unique_ptr<Process> process = make_process(config, special_ids(tok));
  process->check_sample(o.sample);
  const int64_t context = model.max_len();
  std::vector<Layout> layouts;
  for (const Prompt& p : prompts) {
    if (!p.infill.empty() && !process->infills()) {
      throw Error("infilling does not apply to " + process->name() + ", which decodes left to right");
    }
    if (!p.infill.empty() && reference_sampler(o.sample)) {
      throw Error("infilling does not apply to --sampler " + enum_name(o.sample.sampler) +
                  ", which generates after the prompt");
    }
    layouts.push_back(p.infill.empty() ? lay_out_prefix(p, tok, config, context, o.sample)
                                       : lay_out_infill(p, tok, config, context));
  }

  const auto start = std::chrono::steady_clock::now();
  const torch::Device device = module_device(model);
  const auto autocast = autocast_for(config.train.precision, device);
  GenerateReport report;
  const int64_t total = static_cast<int64_t>(prompts.size()) * o.num_samples;
  report.samples.resize(static_cast<size_t>(total));
  const int64_t batch_size = o.batch_size > 0 ? o.batch_size : rows_that_fit(config, layouts, tok.vocab_size());
  for (int64_t first = 0; first < total; first += batch_size) {
    std::vector<int64_t> samples;
    std::vector<const Layout*> batch;
    for (int64_t s = first; s < std::min(total, first + batch_size); ++s) {
      samples.push_back(s);
      batch.push_back(&layouts[static_cast<size_t>(s / o.num_samples)]);
      report.samples[static_cast<size_t>(s)].prompt = s / o.num_samples;
      report.samples[static_cast<size_t>(s)].sample = s % o.num_samples;
    }
    run_batch(model, *process, tok, o, samples, batch, report, on_step);
    if (on_progress) on_progress(samples.back() + 1, total);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace dlm
