/* test_header_one.c — one public header (include/) alone: tests/CMakeLists.txt compiles this file
 * once per header (RLV_HEADER_ID 1, 2, 3) as C11 -pedantic, and through test_header_one.cpp as
 * C++, with only include/ on the include path. The header is the file's only include, so it
 * must stand alone; the probe calls into the library, so under C++ its extern "C" guard links. */
#if RLV_HEADER_ID == 1
#include <rlaifv.h>
#define PROBE (rlv_err_name(RLV_EIO)[0] == 'i' && rlv_reward_name(RLV_REWARD_DPO)[0] == 'd')
#elif RLV_HEADER_ID == 2
#include <rlaifv_proto.h>
#define PROBE (rlv_proto_code_name(RLV_PROTO_E_BUSY)[0] == 'b')
#elif RLV_HEADER_ID == 3
#include <rlaifv_client.h>
#define PROBE (rlv_client_destroy(0), 1)
#endif

#define CAT_(a, b, c) a##b##c
#define CAT(a, b, c) CAT_(a, b, c)
#ifdef __cplusplus
#define FN CAT(header_, RLV_HEADER_ID, _cxx)
extern "C" int FN(void);
#else
#define FN CAT(header_, RLV_HEADER_ID, _c)
int FN(void);
#endif

int FN(void) { return PROBE ? 1 : 0; }
