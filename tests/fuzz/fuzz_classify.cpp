// libFuzzer target for the reply classifier (policy/classify.hpp), the way
// the reply path feeds it: the first byte picks how the rest is read (UTF-8
// as is, or UCS-2 decoded by smpp::decode_text as a data_coding 8 reply),
// the second the facts. Invariants: no crash; a complaint has a category
// and a severity; an outcome other than "other" has a match; classifying
// the normalised text again gives the same outcome.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/classify.hpp"
#include "smpp/text.hpp"

namespace {

const smsgate::policy::Classifier& classifier() {
  static const auto build = smsgate::policy::build_classifier(smsgate::policy::default_classifier_config());
  if (!build.classifier) __builtin_trap();
  return *build.classifier;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smsgate::policy;
  if (size < 2) return 0;
  const bool ucs2 = data[0] & 1;
  ReplyFacts facts;
  facts.already_opted_out = data[1] & 1;
  facts.sent_24h = data[1] >> 1;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string text(body);
  if (ucs2) {
    auto decoded = smsgate::smpp::decode_text(body, smsgate::smpp::coding::ucs2);
    if (!decoded) return 0;
    text = std::move(*decoded);
  }
  const Classification c = classifier().classify(text, facts);
  if (c.outcome == ReplyOutcome::complaint && (c.category == ComplaintCategory::none || c.severity == Severity::none))
    __builtin_trap();
  if (c.outcome != ReplyOutcome::other && c.matches.empty()) __builtin_trap();
  (void)classifier().classify(c.text.folded, facts);
  return 0;
}
