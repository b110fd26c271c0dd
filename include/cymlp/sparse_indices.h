/* The sparse kernels (sparse.h) for both column-index types: intp (cymlp_index; names
 * cymlp_csr_*_f/_d) and int32 (scipy's usual; names cymlp_csr_*_i32_f/_d).
 * Template body: included by kernels.h once per element type (no include guard). */
#define CYMLP_IDX cymlp_index
#define CYMLP_SFN(name) CYMLP_FN(name)
#include "cymlp/sparse.h"
#undef CYMLP_IDX
#undef CYMLP_SFN
#define CYMLP_IDX int32_t
#define CYMLP_SFN(name) CYMLP_FN(name##_i32)
#include "cymlp/sparse.h"
#undef CYMLP_IDX
#undef CYMLP_SFN
