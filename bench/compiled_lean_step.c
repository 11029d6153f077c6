/* The engine's lean training step for a dense tanh stack with MSE on a tanh output, as one C
 * function: what bench/compiled_probe.py measures against the NumPy step (engine.trainer) and
 * the Playground's nn.ts. Same formulas in the same order as the engine: z = x·W, z += b,
 * a = tanh z; per-sample loss Σ(a − y)²/K, batch loss Σ/B (NumPy's pairwise sum); output
 * δ = (2/K)(a − y)·(1 − a²); δ·(1/B) before the gradient products; bias gradient the rows' sum
 * in order; ∂L/∂x = δ·Wᵀ; ΔP = g·(−η), P += ΔP; per-layer ‖g‖ from g² (pairwise sums). Not
 * NumPy's: the matrix products are plain loops (OpenBLAS uses FMA kernels) and tanh is libm's
 * (NumPy's float64 tanh is its own SIMD code), so results agree to float64 rounding, not bit
 * for bit — the probe reports by how many ulp.
 *
 * Build: cc -O3 -march=native -ffp-contract=off -shared -fPIC compiled_lean_step.c -o lean.so -lm
 * (-ffp-contract=off: no fused multiply-adds, so every product and sum rounds as NumPy's do; the
 * loops keep each sum's order and are vectorised across outputs, not within a sum).
 */
#include <math.h>
#include <stddef.h>

/* NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src) for a contiguous run:
 * what np.add.reduce over a contiguous axis returns (np.add.reduceat returns a segment's first
 * element plus this sum of the rest). */
static double pairwise_sum(const double *a, ptrdiff_t n) {
    if (n < 8) {
        double res = 0.0;
        for (ptrdiff_t i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8], res;
        ptrdiff_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    } else {
        ptrdiff_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
}

/* One lean step. sizes[0..L] are the layer widths (inputs first); P the flat parameters
 * (W₁ row-major n₀×n₁, b₁, W₂, b₂, …), updated in place; X (rows × n₀) and Y (rows × n_L) the
 * training set, idx the B rows of this batch; work at least
 * B·Σ sizes + 2·B·max(sizes) + 2·size(P) + B doubles. Writes the batch loss and L gradient norms. */
void lean_step(int L, const int *sizes, double *P, const double *X, const double *Y,
               const long *idx, int B, double lr, double *work, double *loss, double *norms) {
    int total = 0, widest = 0, n_params = 0;
    for (int l = 0; l <= L; l++) {
        total += sizes[l];
        if (sizes[l] > widest) widest = sizes[l];
        if (l < L) n_params += sizes[l] * sizes[l + 1] + sizes[l + 1];
    }
    double *act = work;                      /* every layer's output, inputs first: B×Σ sizes */
    double *delta = act + (size_t)B * total; /* B × widest */
    double *back = delta + (size_t)B * widest;  /* B × widest: ∂L/∂x for the layer below */
    double *grad = back + (size_t)B * widest;   /* like P */
    double *squares = grad + n_params;          /* like P: g² */
    double *scratch = squares + n_params;       /* B: per-sample losses */
    int n0 = sizes[0], nL = sizes[L];
    /* batch gather */
    for (int s = 0; s < B; s++)
        for (int i = 0; i < n0; i++) act[(size_t)s * n0 + i] = X[(size_t)idx[s] * n0 + i];
    /* forward */
    size_t a_off = 0, p_off = 0;
    for (int l = 0; l < L; l++) {
        int n_in = sizes[l], n_out = sizes[l + 1];
        const double *x = act + a_off, *W = P + p_off, *b = W + (size_t)n_in * n_out;
        double *a = act + a_off + (size_t)B * n_in;
        for (int s = 0; s < B; s++) { /* z_sj = Σ_i x_si·W_ij in order of i: vectorised over j */
            double *z = a + (size_t)s * n_out;
            const double *xs = x + (size_t)s * n_in;
            for (int j = 0; j < n_out; j++) z[j] = 0.0;
            for (int i = 0; i < n_in; i++) {
                double xi = xs[i];
                const double *Wi = W + (size_t)i * n_out;
                for (int j = 0; j < n_out; j++) z[j] += xi * Wi[j];
            }
            for (int j = 0; j < n_out; j++) z[j] = tanh(z[j] + b[j]);
        }
        a_off += (size_t)B * n_in;
        p_off += (size_t)n_in * n_out + n_out;
    }
    /* loss and output delta */
    const double *out = act + a_off;
    double two_k = 2.0 / nL, inv_b = 1.0 / B;
    for (int s = 0; s < B; s++) {
        double sq[nL];
        for (int k = 0; k < nL; k++) {
            double y = Y[(size_t)idx[s] * nL + k], a = out[(size_t)s * nL + k], d = a - y;
            sq[k] = d * d;
            double slope = 1.0 - a * a;
            delta[(size_t)s * nL + k] = (two_k * d) * slope;
        }
        scratch[s] = pairwise_sum(sq, nL) / nL;
    }
    *loss = pairwise_sum(scratch, B) / B;
    /* backward */
    for (int l = L - 1; l >= 0; l--) {
        int n_in = sizes[l], n_out = sizes[l + 1];
        p_off -= (size_t)n_in * n_out + n_out;
        a_off -= (size_t)B * n_in;
        const double *x = act + a_off, *W = P + p_off;
        double *gW = grad + p_off, *gb = gW + (size_t)n_in * n_out;
        for (int s = 0; s < B * n_out; s++) back[s] = delta[s] * inv_b; /* mean δ */
        for (size_t i = 0; i < (size_t)n_in * n_out; i++) gW[i] = 0.0;
        for (int s = 0; s < B; s++) /* gW_ij = Σ_s x_si·mδ_sj in order of s: vectorised over j */
            for (int i = 0; i < n_in; i++) {
                double xi = x[(size_t)s * n_in + i];
                double *gi = gW + (size_t)i * n_out;
                const double *bs = back + (size_t)s * n_out;
                for (int j = 0; j < n_out; j++) gi[j] += xi * bs[j];
            }
        for (int j = 0; j < n_out; j++) {
            double g = back[j];
            for (int s = 1; s < B; s++) g += back[(size_t)s * n_out + j];
            gb[j] = g;
        }
        if (l > 0) { /* ∂L/∂x, then through the tanh below: δ = g·(1 − a²) */
            for (int s = 0; s < B; s++) { /* Σ_j δ_sj·W_ij in order of j: vectorised over i */
                double *g = back + (size_t)s * n_in;
                const double *xs = x + (size_t)s * n_in, *ds = delta + (size_t)s * n_out;
                for (int i = 0; i < n_in; i++) g[i] = 0.0;
                for (int j = 0; j < n_out; j++) {
                    double d = ds[j];
                    for (int i = 0; i < n_in; i++) g[i] += d * W[(size_t)i * n_out + j];
                }
                for (int i = 0; i < n_in; i++) g[i] = g[i] * (1.0 - xs[i] * xs[i]);
            }
            for (int s = 0; s < B * n_in; s++) delta[s] = back[s];
        }
    }
    /* norms (g², per layer pairwise) and update */
    p_off = 0;
    for (int l = 0; l < L; l++) {
        int n = sizes[l] * sizes[l + 1] + sizes[l + 1];
        double *sq = squares + p_off;
        for (int i = 0; i < n; i++) sq[i] = grad[p_off + i] * grad[p_off + i];
        norms[l] = sqrt(sq[0] + pairwise_sum(sq + 1, n - 1)); /* as np.add.reduceat */
        p_off += n;
    }
    for (int i = 0; i < n_params; i++) P[i] += grad[i] * -lr;
}
