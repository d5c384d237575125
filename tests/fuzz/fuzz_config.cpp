// Experiment configs (tools/train/config_file.h) as minidl_train reads them: the text becomes a
// JSON map (a text starting with '{' is read as a .json file, anything else as YAML), which
// Settings::merge takes and Settings::validate checks (tools/train/settings.h).
#include "tests/fuzz/fuzz_util.h"
#include "tools/train/cli.h"
#include "tools/train/config_file.h"
#include "tools/train/settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = minidl::fuzz::as_text(data, size);
  std::string name = !text.empty() && text[0] == '{' ? "fuzz.json" : "fuzz.yaml";
  try {
    minidl::cli::Settings settings;
    settings.merge(minidl::cli::config_from_text(text, name), name);
    settings.validate();
  } catch (const minidl::cli::UsageError&) {
  } catch (const minidl::Error&) {
  }
  return 0;
}
