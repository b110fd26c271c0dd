/* Inverted dropout with a counter-based mask.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * Element (r, c) of a layer's output in a batch, r the row's position in the batch and c
 * the unit, is kept when cymlp_mix32((r * width + c) * 0x9E3779B9 ^ key) >= threshold,
 * threshold = rate * 2^32, and then scaled by 1 / (1 - rate); the key depends on the
 * seed, the batch count and the step (Engine).  The mask is never stored: the backward
 * pass recomputes it, and a row chunk (row0) or a column chunk (col0) of the batch gets
 * the bits the whole batch would, so results do not depend on the split.
 */

/* dst[i, j] := keep(row0 + i, col0 + j) ? src[i, j] * scale : 0, for i < rows, j < cols,
 * the rows of both ld elements apart; src may be dst (the backward pass masks Delta in
 * place). */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_dropout)(const CYMLP_REAL *src, CYMLP_REAL *dst,
                                                   cymlp_index rows, cymlp_index cols,
                                                   cymlp_index ld, uint32_t key,
                                                   cymlp_index row0, cymlp_index col0,
                                                   cymlp_index width, uint32_t threshold,
                                                   CYMLP_REAL scale)
{
    cymlp_index i, j;
    for (i = 0; i < rows; i++) {
        const CYMLP_REAL *s = src + i * ld;
        CYMLP_REAL *d = dst + i * ld;
        uint32_t base = (uint32_t)((row0 + i) * width + col0);
        for (j = 0; j < cols; j++) {
            uint32_t h = cymlp_mix32(((base + (uint32_t)j) * UINT32_C(0x9E3779B9)) ^ key);
            d[j] = (h >= threshold) ? s[j] * scale : (CYMLP_REAL)0;
        }
    }
}
