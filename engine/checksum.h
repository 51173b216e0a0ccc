// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of .zlm files. It runs on
// the SSE4.2 crc32 instruction when the CPU has one (checked at run time, so a PORTABLE build
// still gets it) and on a slicing-by-8 table otherwise; both give identical results.
#pragma once
#include <cstddef>
#include <cstdint>

namespace zip {

// CRC-32C of `n` bytes continuing from `crc`, the CRC of the bytes before them (0 to start), so
// that crc32c(b, nb, crc32c(a, na)) == crc32c(a ‖ b). Known value: crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
// The same over `n` zero bytes (alignment padding) without needing a buffer.
uint32_t crc32c_zeros(size_t n, uint32_t crc = 0);
// The table-driven implementation, always available (tests compare it with the hardware path).
uint32_t crc32c_portable(const void* data, size_t n, uint32_t crc = 0);
// Whether crc32c() uses the CPU instruction on this machine.
bool crc32c_hardware();

}  // namespace zip
