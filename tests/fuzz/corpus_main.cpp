// SPDX-License-Identifier: Apache-2.0
// Without libFuzzer (a gcc build), runs a fuzz target over every file of its committed corpus, so
// the corpus is a regression test in every ctest run.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  size_t runs = 0;
  for (int i = 1; i < argc; i++) {
    for (const auto &entry : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      runs++;
    }
  }
  std::cout << "ran " << runs << " corpus inputs\n";
  return runs > 0 ? 0 : 1;
}
