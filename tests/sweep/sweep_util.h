// Reading a sweep directory's outputs in tests (tools/train/sweep.h writes them).
#pragma once

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_io.h"

namespace minidl::sweep_test {

using Table = std::map<std::string, std::map<std::string, std::string>>;  // id -> column -> cell

inline std::string text_of(const std::string& path) {
  std::vector<uint8_t> b = read_file(path);
  return std::string(b.begin(), b.end());
}

// results.csv as id -> column -> cell (cells quoted as RFC 4180).
inline Table read_results(const std::string& path) {
  std::istringstream in(text_of(path));
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        cells.back() += '"', ++i;
      else if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted)
        cells.emplace_back();
      else
        cells.back() += c;
    }
    rows.push_back(cells);
  }
  Table t;
  for (size_t r = 1; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[0].size() && c < rows[r].size(); ++c)
      t[rows[r][0]][rows[0][c]] = rows[r][c];
  return t;
}

}  // namespace minidl::sweep_test
