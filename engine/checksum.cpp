#include "engine/checksum.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define ZIP_CRC_X86 1
#endif

namespace zip {

namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// t[k][b]: the CRC state after byte b followed by k zero bytes, so eight bytes can be folded in
// with eight independent lookups (slicing-by-8).
struct Tables {
  uint32_t t[8][256];
};

constexpr Tables make_tables() {
  Tables s{};
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int i = 0; i < 8; i++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    s.t[0][b] = c;
  }
  for (int k = 1; k < 8; k++)
    for (uint32_t b = 0; b < 256; b++) s.t[k][b] = (s.t[k - 1][b] >> 8) ^ s.t[0][s.t[k - 1][b] & 0xff];
  return s;
}

constexpr Tables kTables = make_tables();

// The update functions work on the raw register (no pre/post inversion).
uint32_t update_portable(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    n--;
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // the bytes in memory order: the table indices below assume little-endian
    w ^= c;
    c = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
        t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#ifdef ZIP_CRC_X86
// The crc32 instruction computes exactly this reflected CRC-32C register update, but each one
// waits for the previous result (3-cycle latency, 1-cycle throughput). Large inputs are therefore
// split into three interleaved streams of kBlock bytes whose registers are joined afterwards:
// for the raw register, crc(s, X ‖ Y) = shift(crc(s, X), |Y|) ^ crc(0, Y), where shift(c, n) is
// c advanced over n zero bytes, a linear map on the 32 bits, tabulated per byte of c.
constexpr size_t kBlock = 4096;

__attribute__((target("sse4.2"))) uint32_t update_hw_serial(uint32_t c, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(c, *p++);
    n--;
  }
#if defined(__x86_64__)
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
  }
  c = uint32_t(c64);
#endif
  while (n-- > 0) c = _mm_crc32_u8(c, *p++);
  return c;
}

// shift(c, kBlock) as four byte-indexed tables.
struct ShiftTables {
  uint32_t t[4][256];
  ShiftTables() {
    static const uint8_t zeros[kBlock] = {};
    uint32_t basis[32];
    for (int i = 0; i < 32; i++) basis[i] = update_hw_serial(uint32_t(1) << i, zeros, kBlock);
    for (int k = 0; k < 4; k++)
      for (uint32_t b = 0; b < 256; b++) {
        uint32_t v = 0;
        for (int i = 0; i < 8; i++)
          if (b & (1u << i)) v ^= basis[8 * k + i];
        t[k][b] = v;
      }
  }
  uint32_t shift(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

__attribute__((target("sse4.2"))) uint32_t update_hw(uint32_t c, const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  if (n >= 3 * kBlock) {
    static const ShiftTables tables;
    while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
      c = _mm_crc32_u8(c, *p++);
      n--;
    }
    for (; n >= 3 * kBlock; p += 3 * kBlock, n -= 3 * kBlock) {
      uint64_t a = c, b = 0, d = 0;
      for (size_t i = 0; i < kBlock; i += 8) {
        uint64_t wa, wb, wd;
        std::memcpy(&wa, p + i, 8);
        std::memcpy(&wb, p + kBlock + i, 8);
        std::memcpy(&wd, p + 2 * kBlock + i, 8);
        a = _mm_crc32_u64(a, wa);
        b = _mm_crc32_u64(b, wb);
        d = _mm_crc32_u64(d, wd);
      }
      c = tables.shift(tables.shift(uint32_t(a)) ^ uint32_t(b)) ^ uint32_t(d);
    }
  }
#endif
  return update_hw_serial(c, p, n);
}

bool detect_hw() {
#ifdef __SSE4_2__
  return true;
#else
  return __builtin_cpu_supports("sse4.2");
#endif
}
#endif

}  // namespace

bool crc32c_hardware() {
#ifdef ZIP_CRC_X86
  static const bool hw = detect_hw();
  return hw;
#else
  return false;
#endif
}

uint32_t crc32c_portable(const void* data, size_t n, uint32_t crc) {
  return ~update_portable(~crc, static_cast<const uint8_t*>(data), n);
}

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
#ifdef ZIP_CRC_X86
  if (crc32c_hardware()) return ~update_hw(~crc, static_cast<const uint8_t*>(data), n);
#endif
  return crc32c_portable(data, n, crc);
}

uint32_t crc32c_zeros(size_t n, uint32_t crc) {
  static const uint8_t zeros[4096] = {};
  while (n > 0) {
    size_t k = n < sizeof zeros ? n : sizeof zeros;
    crc = crc32c(zeros, k, crc);
    n -= k;
  }
  return crc;
}

}  // namespace zip
