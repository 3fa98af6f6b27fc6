#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace infermark {

// JSON-lines files (results, accuracy) as they survive a crash. A line is written by one
// write() on an O_APPEND descriptor under an advisory lock (flock) and synced, so that two
// writers (Slurm tasks, a tune beside a bench) never interleave and a writer that dies leaves at
// most a torn last line: one without its newline. Readers leave a torn last line out with a
// warning; the next append cuts it off first, so that a line is never glued onto a fragment.

// Appends `line` (valid UTF-8, no newline) and a newline. Throws Error naming the file.
void append_line(const std::filesystem::path& file, const std::string& line);

struct JsonLines {
  std::vector<std::string> lines;  // every complete line, in order (empty ones included)
  int torn_line = 0;               // the number (from 1) of a torn last line; 0: none
  std::string warning;             // says so, naming the file and line; empty: none
};

// Reads the complete lines of a file; Error when it cannot be read.
JsonLines read_json_lines(const std::filesystem::path& file);

// Cuts a torn last line off the file (under the lock); returns its number, 0 when none.
int cut_torn_line(const std::filesystem::path& file);

}  // namespace infermark
