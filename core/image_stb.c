/* image_stb.c — the one translation unit that compiles stb_image (Debian libstb-dev).
 * Kept apart so stb's own warnings and its integer idioms do not mix with our flags
 * (core/CMakeLists.txt relaxes warnings for this file only). Only image.c calls into it,
 * always after image_probe() has accepted the header. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO    /* bytes come from memory only */
#define STBI_NO_HDR      /* PIL cannot open Radiance HDR: image_probe refuses it */
#define STBI_NO_LINEAR
#define STBI_NO_PIC      /* nor Softimage PIC */
#define STBI_MAX_DIMENSIONS (1 << 20)
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
