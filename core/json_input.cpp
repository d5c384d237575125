#include "core/json_input.h"

#include <unordered_set>
#include <vector>

#include "core/error.h"

namespace minidl {

nlohmann::json parse_json_input(std::string_view text, const std::string& source) {
  using Event = nlohmann::json::parse_event_t;
  // The keys seen so far in each open object (arrays push an unused entry, to keep the stack in
  // step with the nesting).
  std::vector<std::unordered_set<std::string>> open;
  auto check = [&](int depth, Event event, nlohmann::json& parsed) {
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (depth >= kMaxJsonDepth)
          MINIDL_FAIL(source, ": JSON nested more than ", kMaxJsonDepth, " levels deep");
        open.emplace_back();
        break;
      case Event::object_end:
      case Event::array_end:
        open.pop_back();
        break;
      case Event::key:
        if (!open.back().insert(parsed.get<std::string>()).second)
          MINIDL_FAIL(source, ": key '", parsed.get<std::string>().substr(0, 80),
                      "' appears twice in the same JSON object");
        break;
      case Event::value:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::exception& e) {
    MINIDL_FAIL(source, ": malformed JSON: ", e.what());
  }
}

}  // namespace minidl
