// ImageFolder: root/<class>/<...>/<image>, as torchvision.datasets.ImageFolder reads it.
//   classes: the sub-folders of root, sorted by name (byte order of the UTF-8 names, which is
//            Python's sorted() order on str); class index = position in that list.
//   samples: for each class in order, every file below its folder (recursively, following links)
//            whose extension is an image extension (case-insensitive), in sorted-path order
//            (torchvision's sorted(os.walk(...)) then sorted(file names)).
//   images:  decoded with stb_image at get() time to RGB u8 [3, H, W] (grayscale and RGBA become
//            RGB); sizes vary, so image_shape() is [3, -1, -1].
// Errors: a missing root, a root without class folders, a class folder without images, a file
// that cannot be read or decoded (naming the file) — unless skip_bad_images is set, in which case
// every image is checked at construction and the bad ones are left out and counted. To refuse a
// dataset with any bad image up front instead, call verify_images (below).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace minidl {

struct ImageFolderOptions {
  // The extensions torchvision's IMG_EXTENSIONS lists that stb_image decodes.
  std::vector<std::string> extensions = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm"};
  bool skip_bad_images = false;
  // With skip_bad_images: decode every image fully at construction (catches truncated pixel
  // data; costs one decode pass, on `check_threads` threads) rather than only reading its header.
  bool full_check = true;
  int check_threads = 0;  // 0: the machine's hardware threads
  std::string name;       // default: "imagefolder:<root>"
};

struct SkippedImage {
  std::string path, reason;
};

class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root, ImageFolderOptions options = {});
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  Shape image_shape() const override { return {3, -1, -1}; }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  std::string name() const override { return name_; }
  Sample get(int64_t index) const override;  // reads and decodes the file
  int64_t label(int64_t index) const override;

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t index) const;
  const std::vector<SkippedImage>& skipped() const { return skipped_; }

 private:
  struct Entry {
    std::string path;
    int64_t label;
  };
  std::string root_, name_;
  std::vector<std::string> classes_;
  std::vector<Entry> samples_;
  std::vector<SkippedImage> skipped_;
  void check_and_skip(const ImageFolderOptions& options);
};

// Decodes every image of `dataset` in full (PNGs verified: data/image_io.h) on `threads` threads
// (0: every hardware thread) and returns the bad ones, in sample order, each with its error (which
// names the file). One decode pass over the whole dataset: run it before a run writes anything
// (minidl_train's --verify-images) rather than meeting a corrupt file epochs into training.
std::vector<SkippedImage> find_bad_images(const ImageFolderDataset& dataset, int threads = 0);
// find_bad_images; throws one Error naming the dataset, how many images are bad, and the first ten
// of them with their errors.
void verify_images(const ImageFolderDataset& dataset, int threads = 0);

}  // namespace minidl
