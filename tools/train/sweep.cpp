#include "tools/train/sweep.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "core/file_io.h"
#include "core/text.h"
#include "tools/train/cli.h"
#include "tools/train/config_file.h"
#include "tools/train/settings.h"

namespace minidl::cli {

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw UsageError(name + ": " + what);
}

// Letters, digits and . + = - stay; anything else (/ : , % spaces ...) becomes '-', so an id is one
// path component on every file system.
std::string safe(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '=' ||
          c == '-' || c == '_'))
      c = '-';
  return out;
}

// The keys of a map of settings a grid gives (base, a row's set, the axes): the sweep's own keys
// and, outside base, the seed (repeats make the seeds) are refused here, naming where.
void check_keys(const nlohmann::json& m, const std::string& where, bool seed_allowed) {
  for (auto& [key, value] : m.items()) {
    const auto& owned = sweep_owned_keys();
    if (std::find(owned.begin(), owned.end(), key) != owned.end())
      throw UsageError(where + ": setting '" + key +
                       "' is chosen by the sweep for each run (out: DIR/runs/<id>; device: "
                       "--slots, --devices or --gpus; threads: --threads-per-run)");
    if (key == "seed" && !seed_allowed)
      throw UsageError(where +
                       ": setting 'seed' comes from repeats (base seed + repeat) or seeds: [...]");
  }
}

struct Row {
  std::string name;
  nlohmann::json set = nlohmann::json::object();
};

std::vector<Row> read_rows(const nlohmann::json& grid, const std::string& name) {
  std::vector<Row> rows;
  if (!grid.contains("rows")) return {Row{}};
  const nlohmann::json& list = grid["rows"];
  if (!list.is_array() || list.empty())
    fail(name, "rows must be a list of {name: ..., set: {setting: value, ...}}");
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& r = list[i];
    const std::string where = name + ": row " + std::to_string(i + 1);
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string() ||
        r["name"].get<std::string>().empty())
      fail(where, "a row is {name: ..., set: {setting: value, ...}} with a non-empty name");
    for (auto& [key, v] : r.items())
      if (key != "name" && key != "set")
        fail(where, "unknown key '" + key + "'; a row has name, set");
    Row row{r["name"].get<std::string>(), r.value("set", nlohmann::json::object())};
    if (!names.insert(row.name).second) fail(where, "the name '" + row.name + "' is given twice");
    if (!row.set.is_object())
      fail(where + " ('" + row.name + "')", "set must be a map of settings");
    check_keys(row.set, name + ": row '" + row.name + "'", false);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Seeds of the repeats: seeds: [...] as given, else base seed + 0, 1, ..., repeats - 1.
std::vector<int64_t> read_seeds(const nlohmann::json& grid, const std::string& name,
                                int64_t base_seed) {
  int64_t repeats = 1;
  if (grid.contains("repeats")) {
    const nlohmann::json& r = grid["repeats"];
    if (!r.is_number_integer() || r.get<int64_t>() < 1 || r.get<int64_t>() > 1000)
      fail(name, "repeats must be an integer in [1, 1000], got " + r.dump().substr(0, 60));
    repeats = r.get<int64_t>();
  }
  std::vector<int64_t> seeds;
  if (grid.contains("seeds")) {
    const nlohmann::json& s = grid["seeds"];
    if (!s.is_array() || s.empty() || s.size() > 1000)
      fail(name, "seeds must be a list of 1 to 1000 integers >= 0");
    for (const nlohmann::json& v : s) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0)
        fail(name, "seeds must be integers >= 0, got " + v.dump().substr(0, 60));
      seeds.push_back(v.get<int64_t>());
    }
    if (grid.contains("repeats") && static_cast<int64_t>(seeds.size()) != repeats)
      fail(name, "repeats is " + std::to_string(repeats) + " but seeds lists " +
                     std::to_string(seeds.size()));
    return seeds;
  }
  for (int64_t r = 0; r < repeats; ++r) seeds.push_back(base_seed + r);
  return seeds;
}

}  // namespace

// A value as a user reads it in ids and tables: 0.0005, not 0.00050000000000000001.
std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return format_number(v.get<double>());
  return v.dump();
}

const std::vector<std::string>& sweep_owned_keys() {
  static const std::vector<std::string> keys = {"out", "device", "threads"};
  return keys;
}

Grid read_grid(const std::string& path, const GridOverrides& overrides) {
  return grid_from_json(apply_overrides(read_config_file(path), overrides, path), path);
}

nlohmann::json apply_overrides(nlohmann::json grid, const GridOverrides& o,
                               const std::string& name) {
  if (!grid.is_object()) return grid;  // grid_from_json names the problem
  for (const std::string& item : o.sets) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--set '" + item + "': expected key=value, e.g. --set data_dir=/data");
    const std::string key = item.substr(0, eq), text = item.substr(eq + 1);
    // 0.1, 512, true, [1, 2] and {"a": 1} are values of their JSON type; anything else is text
    // (a path, a schedule spec), as a YAML file would read it.
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded() || value.is_null()) value = text;
    if (grid.contains("axes") && grid["axes"].is_object() && grid["axes"].contains(key))
      throw UsageError("--set " + key + ": '" + key + "' is an axis of " + name +
                       "; a value for every run would remove the axis");
    if (!grid.contains("base")) grid["base"] = nlohmann::json::object();
    if (grid["base"].is_object()) grid["base"][key] = value;
    if (grid.contains("rows") && grid["rows"].is_array())
      for (nlohmann::json& row : grid["rows"])
        if (row.is_object() && row.contains("set") && row["set"].is_object() &&
            row["set"].contains(key))
          row["set"][key] = value;
  }
  if (o.repeats > 0) {
    if (grid.contains("seeds") && grid["seeds"].is_array()) {
      if (static_cast<int64_t>(grid["seeds"].size()) < o.repeats)
        throw UsageError("--repeats " + std::to_string(o.repeats) + ": " + name + " lists only " +
                         std::to_string(grid["seeds"].size()) + " seeds");
      grid["seeds"].erase(grid["seeds"].begin() + o.repeats, grid["seeds"].end());
    } else {
      grid["repeats"] = o.repeats;
    }
  } else if (o.repeats < 0) {
    throw UsageError("--repeats must be positive, got " + std::to_string(o.repeats));
  }
  return grid;
}

Grid grid_from_json(const nlohmann::json& grid, const std::string& name) {
  for (auto& [key, v] : grid.items())
    if (key != "base" && key != "axes" && key != "rows" && key != "repeats" && key != "seeds" &&
        key != "repeat_protocol")
      fail(name, "unknown key '" + key +
                     "'; a grid has base, axes, rows, repeats, seeds, repeat_protocol");
  const nlohmann::json base = grid.value("base", nlohmann::json::object());
  if (!base.is_object()) fail(name, "base must be a map of settings");
  check_keys(base, name + ": base", true);
  Settings defaults;
  defaults.merge(base, name + ": base");

  const nlohmann::json axes = grid.value("axes", nlohmann::json::object());
  if (!axes.is_object()) fail(name, "axes must be a map of setting: [values]");
  Grid g;
  std::vector<const nlohmann::json*> values;  // each axis's list
  int64_t configs = 1;
  for (auto& [key, list] : axes.items()) {
    const std::string where = name + ": axis '" + key + "'";
    if (!list.is_array()) throw UsageError(where + " must be a list of values, e.g. [0.1, 0.2]");
    if (list.empty()) throw UsageError(where + " is empty; give it at least one value");
    check_keys(nlohmann::json{{key, list[0]}}, where, false);
    g.axes.push_back(key);
    values.push_back(&list);
    configs *= static_cast<int64_t>(list.size());
    if (configs > kMaxSweepRuns)
      fail(name, "more than " + std::to_string(kMaxSweepRuns) + " configurations");
  }
  const std::vector<Row> rows = read_rows(grid, name);
  g.has_rows = grid.contains("rows");
  const std::vector<int64_t> seeds = read_seeds(grid, name, defaults.run.seed);
  // repeat_protocol smith: the replication files' 4 runs of a configuration differ in more than the
  // seed: repeat r adds 3 - r % 4 to the (per-GPU) batch size and alternates the initialisation,
  // msra for even r, xavier for odd (PAPER.md, "Protocol").
  const std::string protocol = grid.value("repeat_protocol", std::string("seeds"));
  if (protocol != "seeds" && protocol != "smith")
    fail(name, "repeat_protocol must be seeds (the default) or smith, got '" + protocol + "'");
  const bool smith = protocol == "smith";
  if (smith)
    for (const char* key : {"batch_size", "init"})
      if (axes.contains(key))
        fail(name, std::string("repeat_protocol smith varies '") + key +
                       "' itself; it cannot also be an axis");
  if (configs * static_cast<int64_t>(rows.size()) * static_cast<int64_t>(seeds.size()) >
      kMaxSweepRuns)
    fail(name, "more than " + std::to_string(kMaxSweepRuns) + " runs");

  std::set<std::string> ids;
  int64_t config = 0;
  for (const Row& row : rows) {
    std::vector<size_t> at(values.size(), 0);  // an odometer over the axes, the last one fastest
    for (int64_t c = 0; c < configs; ++c, ++config) {
      SweepRun run;
      run.config = config;
      run.row = row.name;
      run.settings = base;
      run.settings.update(row.set);
      Settings s = defaults;
      s.merge(row.set, name + ": row '" + row.name + "'");
      std::string where = g.has_rows ? "row '" + row.name + "'" : "";
      std::string id = g.has_rows ? safe(row.name) : "";
      for (size_t a = 0; a < values.size(); ++a) {
        const std::string& key = g.axes[a];
        const nlohmann::json& v = (*values[a])[at[a]];
        if (row.set.contains(key))
          fail(name, "row '" + row.name + "' sets '" + key + "', which is also an axis");
        s.merge(nlohmann::json{{key, v}}, name + ": axis '" + key + "' value " + value_text(v));
        run.settings[key] = v;
        run.varied[key] = v;
        where += (where.empty() ? "" : ", ") + key + "=" + value_text(v);
        id += (id.empty() ? "" : "_") + key + "=" + safe(value_text(v));
      }
      s.run.device = "cpu";  // the placement's to choose; checked there
      try {
        s.validate();
      } catch (const UsageError& e) {
        fail(name, (where.empty() ? "" : where + ": ") + e.what());
      }
      // Long spec strings make long names: cut, and keep the id unique by the configuration.
      if (id.size() > 120) id = id.substr(0, 110) + "-c" + std::to_string(config);
      if (!id.empty() && !ids.insert(id).second) id += "-c" + std::to_string(config);
      for (size_t r = 0; r < seeds.size(); ++r) {
        SweepRun rep = run;
        rep.repeat = static_cast<int64_t>(r);
        rep.seed = seeds[r];
        rep.settings["seed"] = seeds[r];
        if (smith) {
          rep.settings["batch_size"] = s.data.batch_size + 3 - static_cast<int64_t>(r % 4);
          rep.settings["init"] = r % 2 == 0 ? "msra" : "xavier";
        }
        rep.id = (id.empty() ? "" : id + "_") + "r" + std::to_string(r);
        g.runs.push_back(std::move(rep));
      }
      for (size_t a = values.size(); a-- > 0;) {
        if (++at[a] < values[a]->size()) break;
        at[a] = 0;
      }
    }
  }
  return g;
}

std::string grid_difference(const Grid& before, const Grid& now) {
  std::map<std::string, const SweepRun*> old_runs;
  for (const SweepRun& r : before.runs) old_runs[r.id] = &r;
  std::set<std::string> new_ids;
  for (const SweepRun& r : now.runs) {
    new_ids.insert(r.id);
    auto it = old_runs.find(r.id);
    if (it == old_runs.end()) return "this grid has run '" + r.id + "', which it has not";
    const nlohmann::json &a = it->second->settings, &b = r.settings;
    for (const nlohmann::json* m : {&a, &b})
      for (auto& [key, v] : m->items())
        if (a.value(key, nlohmann::json()) != b.value(key, nlohmann::json()))
          return "run '" + r.id + "' has " + key + " = " +
                 a.value(key, nlohmann::json()).dump().substr(0, 80) + " there, " +
                 b.value(key, nlohmann::json()).dump().substr(0, 80) + " in this grid";
  }
  for (const SweepRun& r : before.runs)
    if (!new_ids.count(r.id)) return "it has run '" + r.id + "', which this grid has not";
  return "";
}

// ---- run records and the state file ----

std::string run_dir(const std::string& sweep_dir, const SweepRun& run) {
  return sweep_dir + "/runs/" + run.id;
}

RunRecord read_run_record(const std::string& dir) {
  RunRecord r;
  std::ifstream in(dir + "/sweep_run.json");
  if (!in) return r;
  // Written atomically, so a record is whole or absent; one edited by hand into nonsense is
  // treated as absent (the run is then resumed or started again), never trusted.
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return r;
  r.status = j.value("status", r.status);
  r.exit_code = j.value("exit_code", r.exit_code);
  r.attempts = j.value("attempts", r.attempts);
  r.wall_s = j.value("wall_s", r.wall_s);
  return r;
}

void write_run_record(const std::string& dir, const RunRecord& r) {
  nlohmann::json j = {{"status", r.status},
                      {"exit_code", r.exit_code},
                      {"attempts", r.attempts},
                      {"wall_s", r.wall_s}};
  write_file_atomic(dir + "/sweep_run.json", j.dump(2) + "\n");
}

nlohmann::json state_json(const Grid& grid, const std::vector<RunRecord>& records,
                          const std::string& placement) {
  nlohmann::json runs = nlohmann::json::array();
  for (size_t i = 0; i < grid.runs.size(); ++i) {
    const SweepRun& r = grid.runs[i];
    runs.push_back({{"id", r.id},
                    {"config", r.config},
                    {"row", r.row},
                    {"varied", r.varied},
                    {"repeat", r.repeat},
                    {"seed", r.seed},
                    {"settings", r.settings},
                    {"status", records[i].status},
                    {"exit_code", records[i].exit_code}});
  }
  return {{"format", 1},
          {"placement", placement},
          {"axes", grid.axes},
          {"has_rows", grid.has_rows},
          {"runs", runs}};
}

Grid grid_from_state(const nlohmann::json& state, const std::string& name) {
  try {
    if (state.at("format").get<int>() != 1) fail(name, "a sweep state of another format");
    Grid g;
    g.axes = state.at("axes").get<std::vector<std::string>>();
    g.has_rows = state.at("has_rows").get<bool>();
    for (const nlohmann::json& j : state.at("runs")) {
      SweepRun r;
      r.id = j.at("id").get<std::string>();
      r.config = j.at("config").get<int64_t>();
      r.row = j.at("row").get<std::string>();
      r.varied = j.at("varied");
      r.repeat = j.at("repeat").get<int64_t>();
      r.seed = j.at("seed").get<int64_t>();
      r.settings = j.at("settings");
      if (r.id.empty() || safe(r.id) != r.id) fail(name, "a run id that is not a file name");
      g.runs.push_back(std::move(r));
    }
    return g;
  } catch (const nlohmann::json::exception& e) {
    fail(name, std::string("not a sweep state file (") + e.what() + ")");
  }
}

}  // namespace minidl::cli
