// A cheap "did these files change?" stamp: inode, size and modification time of what each path
// resolves to now (a Kubernetes Secret or ConfigMap update swaps a symlink, changing all three).
#pragma once

#include <string>
#include <vector>

namespace mcp_sidecar {

std::string file_stamp(const std::vector<std::string>& paths);

}  // namespace mcp_sidecar
