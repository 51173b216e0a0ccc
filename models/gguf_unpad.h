// The inverse of the GGUF exporter's padding (models/export.h): a file that carries
// `zip.layer_shapes` had zero FFNs and zero query heads added so that llama.cpp computes the
// model exactly; importing it removes them again, after checking they are zero, so that
// `zip convert` of an exported file gives back the original model tensor for tensor.
#pragma once
#include <string>

#include "engine/model.h"

namespace zip {

// `m` as read from the file (padded shapes); `shapes_json` the key's value. Throws zip::Error,
// naming `path`, when the shapes do not fit the file or a padded part is not zero.
void remove_gguf_export_padding(Model& m, const std::string& shapes_json, const std::string& path);

}  // namespace zip
