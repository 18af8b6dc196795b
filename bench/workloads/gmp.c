/* gmp.c: bignum arithmetic with GMP, whose every limb array is a malloc,
 * realloc and free (Debian's shared libgmp, so the preloaded allocator
 * serves it): the cfrac-like workload of a Lisp or a computer algebra
 * system.
 *
 * Each step initialises a few temporaries, draws operands of 64 to 4000
 * bits, multiplies, divides, takes a gcd and a small power, folds the low
 * limb of each result into the check value, and clears them; one step in
 * sixteen computes a factorial and keeps it in a ring of 64 live results,
 * so that the live set holds blocks of many sizes.
 *
 *   gmp             200000 steps x BENCH_SCALE
 */
#include "../bench.h"

#include <gmp.h>

#define KEEP 64

int main(void) {
  long steps = bench_scaled(200000);
  bench_rng_t r = {2024};
  gmp_randstate_t st;
  gmp_randinit_default(st);
  gmp_randseed_ui(st, 99);
  mpz_t keep[KEEP];
  for (int i = 0; i < KEEP; i++) mpz_init(keep[i]);
  uint64_t check = 0;
  for (long s = 0; s < steps; s++) {
    mpz_t a, b, q, m, g;
    mpz_inits(a, b, q, m, g, NULL);
    unsigned long bits = 64 + bench_below(&r, 3937);
    mpz_urandomb(a, st, bits);
    mpz_urandomb(b, st, bits / 2 + 64);
    mpz_add_ui(b, b, 1);
    mpz_mul(q, a, b);
    mpz_add(q, q, a);
    mpz_tdiv_qr(q, m, q, b);
    mpz_gcd(g, a, b);
    mpz_pow_ui(m, m, 1 + bench_below(&r, 4));
    check = bench_mix(check, mpz_getlimbn(q, 0));
    check = bench_mix(check, mpz_getlimbn(m, 0));
    check = bench_mix(check, mpz_getlimbn(g, 0));
    if ((s & 15) == 0) {
      mpz_t *k = &keep[(s >> 4) % KEEP];
      mpz_fac_ui(*k, 100 + bench_below(&r, 1500));
      check = bench_mix(check, mpz_sizeinbase(*k, 2));
    }
    mpz_clears(a, b, q, m, g, NULL);
  }
  for (int i = 0; i < KEEP; i++) mpz_clear(keep[i]);
  gmp_randclear(st);
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}
