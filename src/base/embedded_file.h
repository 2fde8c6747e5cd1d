#pragma once

#include <string>

namespace basin {

// A file of the repository built into the binary (cmake/embed_files.cmake): the default
// pipelines and workflows ship inside `basin`, so it needs no checkout to run them.
struct EmbeddedFile {
  std::string name;  // the file name, e.g. "orders.pipeline.json"
  std::string content;
};

}  // namespace basin
