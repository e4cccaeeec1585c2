// The scan both JSON directions spend most of their time in: the run of bytes in a string that
// need neither escaping nor checking (printable ASCII but '"' and '\\'). With SSE2, which every
// x86-64 CPU has, 16 bytes are tested at once; elsewhere, and for the tail, a byte at a time.
#pragma once

#include <array>
#include <bit>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mcp_sidecar {

// The bytes a JSON string holds as they are: printable ASCII but the quote and the backslash.
inline constexpr auto kJsonPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

// The first byte in [p, end) that is not plain (a control character, '"', '\\', or a byte from
// 0x80 on), or `end`. Reads only inside [p, end).
inline const char* skip_json_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes from 0x80 on are negative, so they fall below 0x20 with the controls.
    const __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
                                         _mm_cmplt_epi8(bytes, space));
    if (const int mask = _mm_movemask_epi8(special); mask != 0)
      return p + std::countr_zero(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p != end && kJsonPlain[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// Whether `s` goes into a JSON string as it is: no byte of it needs escaping or checking.
inline bool is_json_plain(std::string_view s) {
  return skip_json_plain(s.data(), s.data() + s.size()) == s.data() + s.size();
}

}  // namespace mcp_sidecar
