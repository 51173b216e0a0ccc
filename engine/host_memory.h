// Zeroed host memory for weights and activations, released with host_free. Every block is 64-byte
// aligned (one cache line: vector loads never straddle two lines); blocks of 1 MiB and more are
// 2 MiB aligned and asked for transparent huge pages before first touch. Why: with malloc's
// 16-byte alignment and 4 KiB pages, two copies of one model ran up to ~8 % apart on the CPU this
// was measured on, depending on where their buffers happened to land — noise in every latency
// the pruner relies on (a weight file mapped from the page cache already gets huge pages).
// Large blocks are anonymous mappings, zero without being touched: a KV cache sized for a long
// context costs resident memory only for the positions actually written.
#pragma once
#include <cstddef>

namespace zip {

// Throws zip::Error when out of memory. nbytes may be 0 (a valid, freeable block).
void* host_alloc_zeroed(size_t nbytes);
// Releases a block from host_alloc_zeroed (nullptr: nothing).
void host_free(void* p);

}  // namespace zip
