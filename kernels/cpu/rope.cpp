// Rotary position embedding on adjacent pairs. The angles are computed in double once per token
// and shared by all heads (positions reach the thousands; float angles would lose digits).
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace zip::cpu {

void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) {
  int half = head_dim / 2;
  thread_local std::vector<double> freq;
  thread_local std::vector<float> cs;
  thread_local float freq_theta = 0;
  thread_local int freq_dim = 0;
  if (freq_dim != head_dim || freq_theta != theta) {
    freq.resize(size_t(half));
    for (int i = 0; i < half; i++) freq[size_t(i)] = std::pow(double(theta), -2.0 * i / head_dim);
    freq_dim = head_dim;
    freq_theta = theta;
  }
  cs.resize(size_t(head_dim));
  for (int m = 0; m < M; m++) {
    for (int i = 0; i < half; i++) {
      double ang = double(pos[m]) * freq[size_t(i)];
      cs[size_t(2 * i)] = float(std::cos(ang));
      cs[size_t(2 * i + 1)] = float(std::sin(ang));
    }
    for (int h = 0; h < n_heads; h++) {
      float* v = x + (size_t(m) * n_heads + h) * head_dim;
      for (int i = 0; i < half; i++) {
        float c = cs[size_t(2 * i)], s = cs[size_t(2 * i + 1)];
        float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * c - b * s;
        v[2 * i + 1] = a * s + b * c;
      }
    }
  }
}

}  // namespace zip::cpu
