// Image archives: `berth save` and `berth load`.
//
// load reads a docker-archive (`docker save`: manifest.json + config + layer tars), an
// oci-archive (an OCI image layout in a tar: oci-layout, index.json, blobs/), or Docker 25's
// combined form of both, plain or compressed. Every file goes through the content store's
// verified ingest; names come from index.json annotations or manifest.json RepoTags.
// save writes the combined form (an OCI layout plus Docker's manifest.json), which both
// `docker load` and OCI tools (skopeo, umoci) read.
#pragma once

#include <string>
#include <vector>

#include "image/service.hpp"

namespace berth::image {

// Returns the names loaded, in order. Images are unpacked into snapshots as they are loaded.
std::vector<std::string> load_archive(Service& svc, int fd);
void save_archive(Service& svc, const std::vector<std::string>& refs, int fd);

}  // namespace berth::image
