/* fuzz_pickle.c — arbitrary bytes as a data.pkl: pickle_read_state_dict must return a value, never
 * crash or execute anything, and what it returns must be consistent (storage indices in range). */
#include <stdint.h>
#include <stdlib.h>

#include "pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pickle_state_dict sd;
    rlv_err err;
    if (pickle_read_state_dict(data, size, &sd, &err) == RLV_OK) {
        for (int i = 0; i < sd.n_tensors; i++)
            if (sd.tensors[i].storage < 0 || sd.tensors[i].storage >= sd.n_storages || !sd.tensors[i].name[0] ||
                sd.tensors[i].ndim < 0 || sd.tensors[i].ndim > RLV_MAX_DIMS)
                abort();
        pickle_state_dict_free(&sd);
    }
    return 0;
}
