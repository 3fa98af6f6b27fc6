// memory_hog MIB SECONDS: touches MIB mebibytes, so that they are resident, and holds them
// for SECONDS. A stand-in for a framework's compiler or converter in the child process tests.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const size_t bytes = std::strtoull(argv[1], nullptr, 10) << 20;
  std::vector<char> block(bytes);
  std::memset(block.data(), 1, block.size());
  std::this_thread::sleep_for(std::chrono::duration<double>(std::strtod(argv[2], nullptr)));
  return block[bytes / 2] == 1 ? 0 : 1;  // keeps the block from being optimized away
}
