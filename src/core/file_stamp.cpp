#include "core/file_stamp.hpp"

#include <sys/stat.h>

namespace mcp_sidecar {

std::string file_stamp(const std::vector<std::string>& paths) {
  std::string stamp;
  for (const auto& f : paths) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      stamp += f + ":missing;";
      continue;
    }
    stamp += f + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return stamp;
}

}  // namespace mcp_sidecar
