// pull and push: the image service talking to a registry (distribution::Client).
//
// pull: resolve the reference to a manifest (picking this platform's from an index), fetch
// the config, then the layers — downloads run in parallel (bounded), each one streamed into a
// content-store ingest keyed by its digest (so an interrupted pull resumes where it stopped,
// and two pulls of the same layer wait for each other), while the layers are applied bottom
// up as soon as each is complete. A layer whose chain ID is already a snapshot is neither
// downloaded nor unpacked. A lease holds everything until the image record is written.
//
// push: upload every blob the registry does not have yet (HEAD first), then the manifest
// (and index) under the tag.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "distribution/client.hpp"
#include "image/service.hpp"

namespace berth::image {

// Progress of one step, for the CLI: id is a layer's short digest (or empty for the image);
// status is Docker's wording ("Pulling fs layer", "Downloading", "Download complete",
// "Extracting", "Pull complete", "Already exists", "Pushing", "Pushed", "Layer already
// exists"); done/total in bytes when known (-1 otherwise).
struct ProgressEvent {
  std::string id, status;
  int64_t done = -1, total = -1;
};
using ProgressFn = std::function<void(const ProgressEvent&)>;

struct TransferOptions {
  distribution::RegistryOptions registry;
  ProgressFn progress;
};

// Returns the pulled image (its record written under the reference's name).
Image pull(Service& svc, std::string_view ref, const TransferOptions& opt);
// Pushes `source` (a name or id) as `target` (a reference; empty: source's own name). Returns
// the digest of the manifest pushed.
Digest push(Service& svc, std::string_view source, std::string_view target, const TransferOptions& opt);

}  // namespace berth::image
