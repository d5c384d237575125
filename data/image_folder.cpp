#include "data/image_folder.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <thread>

#include "core/file_io.h"
#include "core/text.h"
#include "data/image_io.h"

namespace minidl {

namespace fs = std::filesystem;

static std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

static bool has_extension(const std::string& file, const std::vector<std::string>& exts) {
  std::string l = lower(file);
  for (const std::string& e : exts)
    if (ends_with(l, lower(e))) return true;
  return false;
}

// Image files below `dir`, ordered as torchvision orders them: directories by their full path,
// and within a directory by file name.
static std::vector<std::string> image_files(const fs::path& dir,
                                            const std::vector<std::string>& exts) {
  std::vector<std::pair<std::string, std::string>> found;  // (directory, file name)
  std::error_code ec;
  auto opts = fs::directory_options::follow_directory_symlink;
  for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end;
       it.increment(ec)) {
    // Anything but a folder counts, as in torchvision: a broken link fails when read.
    std::error_code entry_ec;
    if (it->is_directory(entry_ec)) continue;
    std::string fname = it->path().filename().string();
    if (has_extension(fname, exts)) found.emplace_back(it->path().parent_path().string(), fname);
  }
  if (ec) MINIDL_FAIL(dir.string(), ": cannot list: ", ec.message());
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (const auto& [d, f] : found) paths.push_back((fs::path(d) / f).string());
  return paths;
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, ImageFolderOptions options)
    : root_(root), name_(options.name.empty() ? "imagefolder:" + root : options.name) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) MINIDL_FAIL(root, ": ImageFolder root not found");
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    if (it->is_directory(entry_ec)) classes_.push_back(it->path().filename().string());
  }
  if (ec) MINIDL_FAIL(root, ": cannot list: ", ec.message());
  std::sort(classes_.begin(), classes_.end());
  if (classes_.empty()) MINIDL_FAIL(root, ": no class folders (expected root/<class>/<image>)");
  for (size_t c = 0; c < classes_.size(); ++c) {
    fs::path dir = fs::path(root) / classes_[c];
    std::vector<std::string> files = image_files(dir, options.extensions);
    if (files.empty())
      MINIDL_FAIL(dir.string(), ": class folder '", classes_[c],
                  "' holds no image files (extensions .jpg .jpeg .png .ppm .bmp .pgm)");
    for (std::string& f : files) samples_.push_back({std::move(f), static_cast<int64_t>(c)});
  }
  if (options.skip_bad_images) check_and_skip(options);
}

// Why each file is bad ("" when it is good), checked on `threads` threads (0: every hardware
// thread): decoded in full, or with `full` false only its header read.
static std::vector<std::string> check_files(const std::vector<std::string>& paths, bool full,
                                            int threads) {
  std::vector<std::string> reason(paths.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < paths.size();) {
      try {
        std::vector<uint8_t> bytes = read_file(paths[i]);
        if (full) {
          decode_image(bytes.data(), bytes.size(), paths[i]);
        } else if (!image_header_ok(bytes.data(), bytes.size(), nullptr, nullptr)) {
          reason[i] = paths[i] + ": unrecognised or corrupt image header";
        }
      } catch (const std::exception& e) {
        reason[i] = e.what();
      }
    }
  };
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return reason;
}

// Checks every file, then drops the bad ones in order and records why.
void ImageFolderDataset::check_and_skip(const ImageFolderOptions& options) {
  std::vector<std::string> paths;
  for (const Entry& e : samples_) paths.push_back(e.path);
  std::vector<std::string> reason = check_files(paths, options.full_check, options.check_threads);
  std::vector<Entry> kept;
  for (size_t i = 0; i < samples_.size(); ++i) {
    if (reason[i].empty()) {
      kept.push_back(std::move(samples_[i]));
    } else {
      skipped_.push_back({samples_[i].path, reason[i]});
    }
  }
  samples_ = std::move(kept);
  if (!skipped_.empty())
    log_warning(name_ + ": skipped " + std::to_string(skipped_.size()) +
                " bad image(s), first: " + skipped_[0].path);
  MINIDL_CHECK(!samples_.empty(), root_, ": every image was bad (", skipped_.size(), " skipped)");
}

std::vector<SkippedImage> find_bad_images(const ImageFolderDataset& dataset, int threads) {
  std::vector<std::string> paths;
  for (int64_t i = 0; i < dataset.size(); ++i) paths.push_back(dataset.path(i));
  std::vector<std::string> reason = check_files(paths, true, threads);
  std::vector<SkippedImage> bad;
  for (size_t i = 0; i < paths.size(); ++i)
    if (!reason[i].empty()) bad.push_back({paths[i], reason[i]});
  return bad;
}

void verify_images(const ImageFolderDataset& dataset, int threads) {
  std::vector<SkippedImage> bad = find_bad_images(dataset, threads);
  if (bad.empty()) return;
  const size_t kListed = 10;
  std::string list;
  for (size_t i = 0; i < bad.size() && i < kListed; ++i) list += "\n  " + bad[i].reason;
  if (bad.size() > kListed) list += "\n  ... and " + std::to_string(bad.size() - kListed) + " more";
  MINIDL_FAIL(dataset.name(), ": ", bad.size(), " of ", dataset.size(),
              " images cannot be decoded:", list);
}

Sample ImageFolderDataset::get(int64_t index) const {
  check_index(index);
  const Entry& e = samples_[index];
  std::vector<uint8_t> bytes = read_file(e.path);
  return {decode_image(bytes.data(), bytes.size(), e.path), e.label};
}

int64_t ImageFolderDataset::label(int64_t index) const {
  check_index(index);
  return samples_[index].label;
}

const std::string& ImageFolderDataset::path(int64_t index) const {
  check_index(index);
  return samples_[index].path;
}

}  // namespace minidl
