/* gmp_demo.c: GMP bignum work whose every limb comes from malloc.
 *
 * Run it under libgclzone (LD_PRELOAD=build/libgclzone.so, or linked with
 * -lgclzone) and it also checks, through gclzone_owns, that the limbs of
 * every number it builds lie in the gclzone arena, and that none lies in the
 * host heap it grows with gclzone_sbrk. The printed results are exact and
 * the same with any malloc; tests/gmp.sh compares them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  void *base, *brk, *limit;
} bounds_t;

static bool (*owns)(const void *);
static void *(*host_sbrk)(intptr_t);
static bounds_t (*heap_bounds)(void);
static long checked, in_arena, in_host;

/* Record where x's limbs live. */
static void check(const mpz_t x) {
  if (!owns) return;
  const void *limbs = mpz_limbs_read(x);
  checked++;
  in_arena += owns(limbs);
  bounds_t h = heap_bounds();
  in_host += (const char *)limbs >= (const char *)h.base && (const char *)limbs < (const char *)h.limit;
}

static void digits(const char *what, const mpz_t x) {
  char *s = mpz_get_str(NULL, 10, x);
  long sum = 0;
  for (char *c = s; *c; c++) sum += *c - '0';
  printf("%-22s %7zu digits, digit sum %ld\n", what, strlen(s), sum);
  free(s);
}

static void factorial(mpz_t r, unsigned long n) {
  mpz_set_ui(r, 1);
  for (unsigned long i = 2; i <= n; i++) {
    mpz_mul_ui(r, r, i);
    if (i % 97 == 0) check(r);
  }
}

int main(void) {
  owns = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "gclzone_owns");
  host_sbrk = (void *(*)(intptr_t))dlsym(RTLD_DEFAULT, "gclzone_sbrk");
  heap_bounds = (bounds_t(*)(void))dlsym(RTLD_DEFAULT, "gclzone_heap_bounds");
  if (owns && host_sbrk) {
    /* Act like a GC runtime: take a page heap from the host heap first. */
    char *heap = host_sbrk(64 << 20);
    memset(heap, 0x55, 64 << 20);
  }

  mpz_t a, b, g, f1, f2;
  mpz_inits(a, b, g, f1, f2, NULL);
  factorial(a, 1000);
  digits("1000!", a);
  factorial(a, 10000);
  digits("10000!", a);
  factorial(a, 20000);
  digits("20000!", a);

  mpz_ui_pow_ui(a, 3, 100000);
  check(a);
  char *last = mpz_get_str(NULL, 10, a);
  printf("%-22s %7zu digits, last 30: %s\n", "3^100000", strlen(last), last + strlen(last) - 30);
  free(last);

  mpz_ui_pow_ui(a, 7, 20000);
  mpz_ui_pow_ui(b, 5, 20000);
  mpz_sub(a, a, b);
  check(a);
  digits("7^20000 - 5^20000", a);

  mpz_fib_ui(f1, 3000);
  check(f1);
  digits("F(3000)", f1);
  mpz_fib_ui(f1, 2400);
  mpz_fib_ui(f2, 1800);
  mpz_gcd(g, f1, f2);
  mpz_fib_ui(a, 600);
  printf("%-22s %s\n", "gcd(F(2400),F(1800))", mpz_cmp(g, a) == 0 ? "= F(600)" : "WRONG");

  /* Many short-lived numbers: gcd(F(m), F(n)) == F(gcd(m, n)). */
  gmp_randstate_t rs;
  gmp_randinit_default(rs);
  gmp_randseed_ui(rs, 42);
  int bad = 0;
  for (int i = 0; i < 400; i++) {
    unsigned long m = 50 + gmp_urandomm_ui(rs, 4000), n = 50 + gmp_urandomm_ui(rs, 4000);
    unsigned long d = m, e = n;
    while (e) {
      unsigned long t = d % e;
      d = e;
      e = t;
    }
    mpz_fib_ui(f1, m);
    mpz_fib_ui(f2, n);
    mpz_gcd(g, f1, f2);
    mpz_fib_ui(a, d);
    check(g);
    bad += mpz_cmp(g, a) != 0;
  }
  printf("%-22s %s\n", "400 Fibonacci gcds", bad ? "WRONG" : "all exact");
  gmp_randclear(rs);
  mpz_clears(a, b, g, f1, f2, NULL);

  if (owns)
    printf("libgclzone: %ld of %ld numbers have their limbs in the arena, %ld in the host heap\n", in_arena,
           checked, in_host);
  else
    printf("libgclzone is not loaded\n");
  return bad;
}
