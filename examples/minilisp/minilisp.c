/* minilisp.c: a small Lisp for runtime authors to read: a garbage-collected
 * runtime embedded in libgclzone the way GCL or Emacs would be.
 *
 *  - The GC heap is one run of 32-byte cells grown with gclzone_sbrk and, when
 *    a collection leaves it mostly empty, shrunk with a negative gclzone_sbrk.
 *    New cells are free because the host heap hands out zeroed memory.
 *  - Integers are GMP bignums: their limbs come from malloc, that is from the
 *    gclzone arena, and a sweep that frees an integer cell calls mpz_clear.
 *  - The collector is conservative mark and sweep, after Boehm's: its roots
 *    are the C stack (registers spilled), and every live block of malloc'd
 *    memory, found with gclzone_walk. The symbol table lives in malloc'd
 *    memory and is not registered anywhere else: the walk is what keeps
 *    every global definition alive.
 *  - Every collection checks the separation: the GC heap lies inside the host
 *    heap, every arena block lies outside it, and the limbs of every live
 *    integer are a live arena block (gclzone_owns). A violation stops the
 *    program; the last lines of output report what was checked.
 *  - (save-image "file") saves the world in a heap image (gclzone_image_save)
 *    and `minilisp --image file` starts from it: definitions, the GC heap on
 *    the host heap, the bignums' limbs in the arena, all back at their
 *    addresses without recomputing. What an image cannot hold is kept out of
 *    the heaps: a primitive is an index into a table, not a code pointer
 *    (the executable moves under ASLR), the unbound marker is a constant, and
 *    the globals of this file travel in a malloc'd block, the image's root.
 *    minilisp asks for a fixed base (gclzone_init) so that a later process
 *    finds the image's range free.
 *
 * The language: integers, strings, symbols, lists, nil (the empty list and
 * false), t; special forms quote, if, define (global), set!, lambda, let,
 * begin, and, or, cond; calls in tail position run in constant C stack.
 *
 * Usage: minilisp [--map] [--no-walk] [--image IMAGE] [FILE]   (FILE defaults
 * to stdin; --map prints the region map, gclzone_print_map, at the end;
 * --no-walk leaves malloc'd memory unscanned, and the program soon loses its
 * definitions; --image starts from IMAGE, as GCLZONE_IMAGE=IMAGE does).
 * Link with -lgclzone -lgmp.
 */
#include <gclzone.h>

#include <errno.h>
#include <gmp.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- cells ------------------------------------------------------------------ */

enum { T_FREE = 0, T_INT, T_CONS, T_SYM, T_STR, T_PRIM, T_LAMBDA }; /* T_FREE is 0: zeroed memory is free */

typedef struct obj obj;
typedef obj *prim_fn(obj *args);
struct obj {
  unsigned char type, mark;
  union {
    mpz_t z;                                      /* T_INT: limbs in the arena */
    struct { obj *car, *cdr; } cons;              /* T_CONS */
    struct { char *name; obj *value; } sym;       /* T_SYM: name malloc'd; value: global binding */
    struct { char *chars; } str;                  /* T_STR: malloc'd */
    struct { unsigned index; } prim;              /* T_PRIM: into prims[] (no code pointer: ASLR) */
    struct { obj *params, *body, *env; } lambda;
    obj *next;                                    /* T_FREE: the free list */
  } u;
};
_Static_assert(sizeof(obj) == 32, "a cell is 32 bytes");

#define CHUNK ((size_t)256 << 10) /* the heap grows and shrinks by this much */
static obj *heap_lo, *heap_hi;    /* the GC heap: [heap_lo, heap_hi), on the host heap */
static obj *limit;                /* cells are allocated below it; above it they are left to die */
static obj *free_list;
static uintptr_t stack_top;       /* main's frame: the C stack roots lie below it */
static int walk_arena = 1;        /* --no-walk: skip the malloc'd roots, and lose the globals */
/* Marks a symbol without a global value: not a heap cell (the collector
 * ignores it), and the same in a process started from an image. */
#define UNBOUND ((obj *)(uintptr_t)16)

static struct {
  size_t collections, grew, shrank, peak_bytes;
  size_t limbs_checked, blocks_walked, arena_roots;
} st;

static void die(const char *what, const char *detail) {
  fflush(stdout);
  fprintf(stderr, "minilisp: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* ---- separation checks -------------------------------------------------------- */

static gclzone_bounds_t host, arena; /* refreshed at every collection */

static int in_host(const void *p) {
  return (const char *)p >= (const char *)host.base && (const char *)p < (const char *)host.limit;
}

static void check_heap_placement(void) {
  host = gclzone_heap_bounds();
  arena = gclzone_arena_bounds();
  if ((void *)heap_lo < host.base || (void *)heap_hi > host.brk) die("OVERLAP", "the GC heap left the host heap");
}

static void check_limbs(const obj *o) {
  if (mpz_size(o->u.z) == 0) return; /* GMP allocates no limbs for 0 */
  const void *limbs = mpz_limbs_read(o->u.z);
  if (!gclzone_owns(limbs) || in_host(limbs)) die("OVERLAP", "bignum limbs outside the arena");
  st.limbs_checked++;
}

/* ---- the collector ------------------------------------------------------------- */

static obj *cell_at(uintptr_t w) { /* the live cell w points into, interior pointers included */
  if (w < (uintptr_t)heap_lo || w >= (uintptr_t)heap_hi) return NULL;
  obj *o = heap_lo + (w - (uintptr_t)heap_lo) / sizeof(obj);
  return o->type == T_FREE ? NULL : o;
}

static void mark(obj *o) {
  while (o && o >= heap_lo && o < heap_hi && !o->mark) { /* loop on the last child, recurse on the others */
    o->mark = 1;
    switch (o->type) {
    case T_CONS: mark(o->u.cons.car); o = o->u.cons.cdr; break;
    case T_SYM: o = o->u.sym.value; break;
    case T_LAMBDA: mark(o->u.lambda.params); mark(o->u.lambda.body); o = o->u.lambda.env; break;
    default: return;
    }
  }
}

static size_t mark_words(uintptr_t lo, uintptr_t hi) {
  size_t found = 0;
  for (lo = (lo + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1); lo + sizeof(void *) <= hi;
       lo += sizeof(void *)) {
    obj *o = cell_at(*(const uintptr_t *)lo);
    if (o) found++, mark(o);
  }
  return found;
}

/* gclzone_walk's visitor: a live block of malloc'd memory. It may hold
 * pointers into the GC heap (the symbol table does); it must not lie in the
 * host heap. Marking allocates nothing, as a visitor must. */
static void scan_block(void *block, size_t size, void *ctx) {
  (void)ctx;
  st.blocks_walked++;
  if (in_host(block) || in_host((char *)block + size - 1) || block < arena.base ||
      (char *)block + size > (char *)arena.brk)
    die("OVERLAP", "an arena block in the host heap");
  st.arena_roots += mark_words((uintptr_t)block, (uintptr_t)block + size);
}

/* Separate and not inlined: its frame is below collect's, whose saved
 * registers are then inside the scanned range. */
__attribute__((noinline)) static void mark_stack(void) {
  volatile uintptr_t here = 0;
  mark_words((uintptr_t)&here, stack_top);
}

static void release(obj *o) {
  if (o->type == T_INT) mpz_clear(o->u.z); /* the limbs go back to the arena */
  else if (o->type == T_STR) free(o->u.str.chars);
  memset(o, 0, sizeof *o);
}

static size_t round_chunk(size_t bytes) {
  return (bytes + CHUNK - 1) / CHUNK * CHUNK;
}

/* New cells come from the host heap zeroed, that is free (T_FREE is 0);
 * the next sweep links them. */
static int grow(size_t bytes) {
  void *at = gclzone_sbrk((intptr_t)bytes);
  if (at == (void *)-1) return -1;
  if (at != (void *)heap_hi) die("the host heap is not contiguous", NULL);
  heap_hi = limit = (obj *)((char *)heap_hi + bytes);
  st.grew++;
  if ((size_t)((char *)heap_hi - (char *)heap_lo) > st.peak_bytes) st.peak_bytes = (char *)heap_hi - (char *)heap_lo;
  return 0;
}

static void collect(void) {
  __builtin_unwind_init(); /* spill callee-saved registers into this frame */
  jmp_buf regs;
  setjmp(regs);
  check_heap_placement();
  mark_stack();
  if (walk_arena) gclzone_walk(scan_block, NULL);

  size_t live = 0;
  obj *top = heap_lo;
  for (obj *o = heap_lo; o < heap_hi; o++)
    if (o->mark) live++, top = o + 1;

  /* The heap should be about four times what is live. When it is bigger,
   * allocate only below that size from now on (the limit), and give back
   * with a negative sbrk the part above the highest live cell. That part is
   * rarely empty at once: the free list runs dry at the top, so the newest
   * cells, still alive, are there. Nothing new goes above the limit, so they
   * die there, and a later collection gives that part back. */
  size_t target = round_chunk(4 * live * sizeof(obj));
  if (target < 2 * CHUNK) target = 2 * CHUNK;
  size_t have = (size_t)((char *)heap_hi - (char *)heap_lo);
  limit = target < have ? (obj *)((char *)heap_lo + target) : heap_hi;
  obj *cut = (obj *)((char *)heap_lo + round_chunk((size_t)((char *)top - (char *)heap_lo)));
  if (cut < limit) cut = limit;
  if (cut < heap_hi) {
    for (obj *o = cut; o < heap_hi; o++)
      if (o->type != T_FREE) release(o);
    if (gclzone_sbrk(-(intptr_t)((char *)heap_hi - (char *)cut)) == (void *)-1) die("sbrk cannot shrink", NULL);
    heap_hi = cut;
    st.shrank++;
  }
  /* At least as many free cells as live ones: lift the limit, or grow. */
  size_t live_above = 0;
  for (obj *o = limit; o < heap_hi; o++) live_above += o->mark;
  if ((size_t)(limit - heap_lo) - (live - live_above) < live) limit = heap_hi;
  size_t cells = (size_t)(heap_hi - heap_lo);
  if (cells - live < live + 1 && grow(round_chunk((2 * live + 1 - cells) * sizeof(obj))) != 0)
    die("out of memory", NULL);

  /* Sweep: free the dead (their limbs go back to the arena), check the
   * living, and link the free cells below the limit in address order. */
  free_list = NULL;
  for (obj *o = heap_hi; o-- > heap_lo;) {
    if (o->mark) {
      o->mark = 0;
      if (o->type == T_INT) check_limbs(o);
      continue;
    }
    if (o->type != T_FREE) release(o);
    if (o < limit) o->u.next = free_list, free_list = o;
  }
  st.collections++;
}

static obj *alloc(int type) {
  if (!free_list) collect();
  obj *o = free_list;
  free_list = o->u.next;
  o->u.next = NULL;
  o->type = (unsigned char)type;
  return o;
}

/* ---- objects ------------------------------------------------------------------ */

static obj *cons(obj *a, obj *d) {
  obj *o = alloc(T_CONS);
  o->u.cons.car = a;
  o->u.cons.cdr = d;
  return o;
}

static obj *new_int(void) {
  obj *o = alloc(T_INT);
  mpz_init(o->u.z);
  return o;
}

static obj *car(obj *o) {
  if (!o) return NULL;
  if (o->type != T_CONS) die("car of a non-list", NULL);
  return o->u.cons.car;
}

static obj *cdr(obj *o) {
  if (!o) return NULL;
  if (o->type != T_CONS) die("cdr of a non-list", NULL);
  return o->u.cons.cdr;
}

/* The symbol table: malloc'd, grown with realloc, reachable only through
 * gclzone_walk. */
static obj **symtab;
static size_t nsyms, capsyms;

static obj *intern(const char *name) {
  for (size_t i = 0; i < nsyms; i++) {
    if (symtab[i]->type != T_SYM) die("a symbol was collected", "is malloc'd memory scanned?");
    if (strcmp(symtab[i]->u.sym.name, name) == 0) return symtab[i];
  }
  if (nsyms == capsyms) {
    capsyms = capsyms ? 2 * capsyms : 64;
    obj **grown = realloc(symtab, capsyms * sizeof *symtab);
    if (!grown) die("out of memory", NULL);
    symtab = grown;
  }
  char *copy = strdup(name);
  if (!copy) die("out of memory", NULL);
  obj *s = alloc(T_SYM);
  s->u.sym.name = copy;
  s->u.sym.value = UNBOUND;
  return symtab[nsyms++] = s;
}

static obj *s_t, *s_quote, *s_if, *s_define, *s_set, *s_lambda, *s_let, *s_begin, *s_and, *s_or, *s_cond,
    *s_else;

static const mpz_t *intv(obj *o) {
  if (!o || o->type != T_INT) die("not an integer", NULL);
  return (const mpz_t *)&o->u.z;
}

/* The primitives, by index: their table comes with them, below. */
typedef struct prim_def {
  const char *name;
  prim_fn *fn;
} prim_def_t;
static const prim_def_t *prim(unsigned index);

/* ---- printing ------------------------------------------------------------------ */

static void print(obj *o, int display) {
  if (!o) {
    fputs("nil", stdout);
    return;
  }
  switch (o->type) {
  case T_INT: {
    char *s = mpz_get_str(NULL, 10, o->u.z);
    fputs(s, stdout);
    free(s);
    break;
  }
  case T_SYM: fputs(o->u.sym.name, stdout); break;
  case T_STR: printf(display ? "%s" : "\"%s\"", o->u.str.chars); break;
  case T_PRIM: printf("#<primitive %s>", prim(o->u.prim.index)->name); break;
  case T_LAMBDA: fputs("#<lambda>", stdout); break;
  case T_CONS:
    putchar('(');
    for (;;) {
      print(o->u.cons.car, display);
      o = o->u.cons.cdr;
      if (!o) break;
      if (o->type != T_CONS) {
        fputs(" . ", stdout);
        print(o, display);
        break;
      }
      putchar(' ');
    }
    putchar(')');
    break;
  }
}

/* ---- the reader ------------------------------------------------------------------ */

static int peek(FILE *in) {
  int c = getc(in);
  if (c != EOF) ungetc(c, in);
  return c;
}

static int skip_space(FILE *in) {
  for (;;) {
    int c = getc(in);
    if (c == ';')
      while (c != '\n' && c != EOF) c = getc(in);
    if (c == EOF || !strchr(" \t\r\n;", c)) return c;
  }
}

static obj *read_obj(FILE *in, int *eof);

static obj *read_list(FILE *in) {
  obj *head = NULL, *tail = NULL;
  for (;;) {
    int c = skip_space(in);
    if (c == EOF) die("unexpected end of input in a list", NULL);
    if (c == ')') return head;
    ungetc(c, in);
    int eof;
    obj *x = read_obj(in, &eof);
    if (x && x->type == T_SYM && strcmp(x->u.sym.name, ".") == 0) {
      if (!tail) die("nothing before '.'", NULL);
      tail->u.cons.cdr = read_obj(in, &eof);
      if (skip_space(in) != ')') die("expected ')' after a dotted tail", NULL);
      return head;
    }
    obj *c2 = cons(x, NULL);
    if (tail) tail->u.cons.cdr = c2;
    else head = c2;
    tail = c2;
  }
}

static obj *read_obj(FILE *in, int *eof) {
  *eof = 0;
  int c = skip_space(in);
  if (c == EOF) {
    *eof = 1;
    return NULL;
  }
  if (c == '(') return read_list(in);
  if (c == ')') die("unexpected ')'", NULL);
  if (c == '\'') {
    int e;
    obj *x = read_obj(in, &e);
    return cons(s_quote, cons(x, NULL));
  }
  char buf[4096];
  size_t n = 0;
  if (c == '"') {
    while ((c = getc(in)) != '"') {
      if (c == EOF || n + 1 >= sizeof buf) die("unterminated string", NULL);
      buf[n++] = (char)c;
    }
    buf[n] = 0;
    obj *s = alloc(T_STR);
    if (!(s->u.str.chars = strdup(buf))) die("out of memory", NULL);
    return s;
  }
  buf[n++] = (char)c;
  while ((c = peek(in)) != EOF && !strchr(" \t\r\n();\"'", c)) {
    if (n + 1 >= sizeof buf) die("atom too long", NULL);
    buf[n++] = (char)getc(in);
  }
  buf[n] = 0;
  size_t digits = strspn(buf + (buf[0] == '-' || buf[0] == '+'), "0123456789");
  if (digits && digits + (buf[0] == '-' || buf[0] == '+') == n) {
    obj *i = new_int();
    mpz_set_str(i->u.z, buf + (buf[0] == '+'), 10);
    return i;
  }
  if (strcmp(buf, "nil") == 0) return NULL;
  return intern(buf);
}

/* ---- the evaluator ------------------------------------------------------------------ */

static obj *lookup_pair(obj *sym, obj *env) { /* env: a list of frames, each an alist */
  for (; env; env = env->u.cons.cdr)
    for (obj *f = env->u.cons.car; f; f = f->u.cons.cdr)
      if (f->u.cons.car->u.cons.car == sym) return f->u.cons.car;
  return NULL;
}

static obj *eval(obj *x, obj *env);

static obj *eval_list(obj *args, obj *env) {
  obj *head = NULL, *tail = NULL;
  for (; args; args = cdr(args)) {
    obj *v = eval(car(args), env);
    obj *c = cons(v, NULL);
    if (tail) tail->u.cons.cdr = c;
    else head = c;
    tail = c;
  }
  return head;
}

static obj *bind(obj *params, obj *vals, obj *env) {
  obj *frame = NULL;
  for (; params && params->type == T_CONS; params = params->u.cons.cdr, vals = cdr(vals)) {
    if (!vals) die("too few arguments", NULL);
    frame = cons(cons(params->u.cons.car, car(vals)), frame);
  }
  if (params) frame = cons(cons(params, vals), frame); /* (lambda args ...) or a dotted rest */
  else if (vals) die("too many arguments", NULL);
  return cons(frame, env);
}

static obj *eval(obj *x, obj *env) {
  for (;;) {
    if (!x) return NULL;
    if (x->type == T_SYM) {
      obj *pair = lookup_pair(x, env);
      if (pair) return pair->u.cons.cdr;
      if (x->u.sym.value == UNBOUND) die("unbound symbol", x->u.sym.name);
      return x->u.sym.value;
    }
    if (x->type != T_CONS) return x;
    obj *op = x->u.cons.car, *args = x->u.cons.cdr;
    obj *body; /* a list of forms whose last one is evaluated in tail position */
    if (op == s_quote) return car(args);
    if (op == s_if) {
      x = eval(car(args), env) ? car(cdr(args)) : car(cdr(cdr(args)));
      continue;
    }
    if (op == s_define) {
      obj *target = car(args), *value;
      if (target && target->type == T_CONS) { /* (define (name . params) body...) */
        value = alloc(T_LAMBDA);
        value->u.lambda.params = target->u.cons.cdr;
        value->u.lambda.body = cdr(args);
        value->u.lambda.env = env;
        target = target->u.cons.car;
      } else {
        value = eval(car(cdr(args)), env);
      }
      if (!target || target->type != T_SYM) die("define: not a symbol", NULL);
      target->u.sym.value = value;
      return target;
    }
    if (op == s_set) {
      obj *sym = car(args), *value = eval(car(cdr(args)), env), *pair = lookup_pair(sym, env);
      if (pair) pair->u.cons.cdr = value;
      else sym->u.sym.value = value;
      return value;
    }
    if (op == s_lambda) {
      obj *f = alloc(T_LAMBDA);
      f->u.lambda.params = car(args);
      f->u.lambda.body = cdr(args);
      f->u.lambda.env = env;
      return f;
    }
    if (op == s_and || op == s_or) {
      obj *v = op == s_and ? s_t : NULL;
      for (; args && cdr(args); args = cdr(args))
        if (!(v = eval(car(args), env)) == (op == s_and)) return v;
      if (!args) return v;
      x = car(args);
      continue;
    }
    if (op == s_cond) {
      for (; args; args = cdr(args))
        if (car(car(args)) == s_else || eval(car(car(args)), env)) break;
      if (!args) return NULL;
      body = cdr(car(args));
    } else if (op == s_begin) {
      body = args;
    } else if (op == s_let) {
      obj *frame = NULL;
      for (obj *b = car(args); b; b = cdr(b)) frame = cons(cons(car(car(b)), eval(car(cdr(car(b))), env)), frame);
      env = cons(frame, env);
      body = cdr(args);
    } else {
      obj *f = eval(op, env), *vals = eval_list(args, env);
      if (!f || (f->type != T_PRIM && f->type != T_LAMBDA)) die("not a function", NULL);
      if (f->type == T_PRIM) return prim(f->u.prim.index)->fn(vals);
      env = bind(f->u.lambda.params, vals, f->u.lambda.env);
      body = f->u.lambda.body;
    }
    if (!body) return NULL;
    for (; cdr(body); body = cdr(body)) eval(car(body), env);
    x = car(body);
  }
}

/* ---- primitives ------------------------------------------------------------------ */

static obj *arith(obj *args, int op) { /* '+', '-', '*' */
  obj *r = new_int();
  if (op == '*') mpz_set_ui(r->u.z, 1);
  if (op == '-' && args && !cdr(args)) { /* (- n) */
    mpz_neg(r->u.z, *intv(car(args)));
    return r;
  }
  if (op == '-' && args) {
    mpz_set(r->u.z, *intv(car(args)));
    args = cdr(args);
  }
  for (; args; args = cdr(args)) {
    if (op == '+') mpz_add(r->u.z, r->u.z, *intv(car(args)));
    else if (op == '-') mpz_sub(r->u.z, r->u.z, *intv(car(args)));
    else mpz_mul(r->u.z, r->u.z, *intv(car(args)));
  }
  return r;
}
static obj *p_add(obj *a) { return arith(a, '+'); }
static obj *p_sub(obj *a) { return arith(a, '-'); }
static obj *p_mul(obj *a) { return arith(a, '*'); }

static obj *divide(obj *a, int op) {
  const mpz_t *d = intv(car(cdr(a)));
  if (mpz_sgn(*d) == 0) die("division by zero", NULL);
  obj *r = new_int();
  if (op == 'q') mpz_tdiv_q(r->u.z, *intv(car(a)), *d);
  else if (op == 'r') mpz_tdiv_r(r->u.z, *intv(car(a)), *d);
  else mpz_fdiv_r(r->u.z, *intv(car(a)), *d);
  return r;
}
static obj *p_quotient(obj *a) { return divide(a, 'q'); }
static obj *p_remainder(obj *a) { return divide(a, 'r'); }
static obj *p_modulo(obj *a) { return divide(a, 'm'); }

static obj *p_expt(obj *a) {
  obj *r = new_int();
  mpz_pow_ui(r->u.z, *intv(car(a)), mpz_get_ui(*intv(car(cdr(a)))));
  return r;
}

static obj *compare(obj *a, int want_lt, int want_eq, int want_gt) {
  for (; cdr(a); a = cdr(a)) {
    int c = mpz_cmp(*intv(car(a)), *intv(car(cdr(a))));
    if (!(c < 0 ? want_lt : c == 0 ? want_eq : want_gt)) return NULL;
  }
  return s_t;
}
static obj *p_eq_num(obj *a) { return compare(a, 0, 1, 0); }
static obj *p_lt(obj *a) { return compare(a, 1, 0, 0); }
static obj *p_gt(obj *a) { return compare(a, 0, 0, 1); }
static obj *p_le(obj *a) { return compare(a, 1, 1, 0); }
static obj *p_ge(obj *a) { return compare(a, 0, 1, 1); }

static obj *p_cons(obj *a) { return cons(car(a), car(cdr(a))); }
static obj *p_car(obj *a) { return car(car(a)); }
static obj *p_cdr(obj *a) { return cdr(car(a)); }
static obj *p_list(obj *a) { return a; }
static obj *p_nullp(obj *a) { return car(a) ? NULL : s_t; }
static obj *p_pairp(obj *a) { return car(a) && car(a)->type == T_CONS ? s_t : NULL; }
static obj *p_eqp(obj *a) { return car(a) == car(cdr(a)) ? s_t : NULL; }

/* (digits n): decimal digits of |n|, through a malloc'd string. */
static obj *p_digits(obj *a) {
  char *s = mpz_get_str(NULL, 10, *intv(car(a)));
  obj *r = new_int();
  mpz_set_ui(r->u.z, strlen(s) - (s[0] == '-'));
  free(s);
  return r;
}

static obj *p_print(obj *a) { /* its arguments, separated by spaces, then a newline */
  for (obj *p = a; p; p = cdr(p)) {
    print(car(p), 1);
    if (cdr(p)) putchar(' ');
  }
  putchar('\n');
  return NULL;
}

/* ---- the world in a heap image ------------------------------------------------------ */

static struct timespec started; /* main's first instant */

static double ms_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static obj *p_elapsed_ms(obj *a) { /* (elapsed-ms): milliseconds since main began */
  (void)a;
  obj *r = new_int();
  mpz_set_ui(r->u.z, (unsigned long)ms_since(&started));
  return r;
}

/* This file's globals that point into the heaps: what a process started
 * from an image needs back. The world block is the image's root. */
static obj **const specials[] = {&s_t, &s_quote, &s_if, &s_define, &s_set, &s_lambda, &s_let, &s_begin, &s_and,
                                 &s_or, &s_cond, &s_else};
#define NSPECIALS (sizeof specials / sizeof specials[0])
#define WORLD_MAGIC 0x6d696e696c697370ull /* "minilisp" */

typedef struct world {
  uint64_t magic;
  size_t nprims; /* the table the T_PRIM indices point into */
  obj *heap_lo, *heap_hi, *limit, *free_list;
  obj **symtab;
  size_t nsyms, capsyms;
  obj *special[NSPECIALS];
  size_t collections, grew, shrank, peak_bytes;
} world_t;

static size_t nprims(void);

/* (save-image "file"): collect, then save the world with the GC heap,
 * malloc'd memory and all; the process goes on. t. */
static obj *p_save_image(obj *a) {
  obj *f = car(a);
  if (!f || f->type != T_STR) die("save-image: not a string", NULL);
  collect(); /* the image holds only what is live, and the free list as the collector left it */
  world_t *w = malloc(sizeof *w);
  if (!w) die("out of memory", NULL);
  *w = (world_t){WORLD_MAGIC, nprims(), heap_lo, heap_hi, limit, free_list, symtab, nsyms, capsyms, {0},
                 st.collections, st.grew, st.shrank, st.peak_bytes};
  for (size_t i = 0; i < NSPECIALS; i++) w->special[i] = *specials[i];
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (gclzone_image_save(f->u.str.chars, w) != 0) die("save-image", strerror(errno));
  double ms = ms_since(&t0);
  free(w);
  fflush(stdout);
  printf("minilisp: saved the world to %s in %.1f ms (GC heap %zu KiB, %zu symbols)\n", f->u.str.chars, ms,
         (size_t)((char *)heap_hi - (char *)heap_lo) >> 10, nsyms);
  return s_t;
}

/* The process started from an image: take the world back from its root. */
static void restore_world(world_t *w) {
  if (w->magic != WORLD_MAGIC || w->nprims != nprims()) die("the image holds no world of this minilisp", NULL);
  heap_lo = w->heap_lo, heap_hi = w->heap_hi, limit = w->limit, free_list = w->free_list;
  symtab = w->symtab, nsyms = w->nsyms, capsyms = w->capsyms;
  for (size_t i = 0; i < NSPECIALS; i++) *specials[i] = w->special[i];
  st.collections = w->collections, st.grew = w->grew, st.shrank = w->shrank, st.peak_bytes = w->peak_bytes;
  if ((void *)heap_hi != gclzone_sbrk(0)) die("the image's GC heap does not end at the break", NULL);
  free(w);
}

static void define_prim(const char *name, unsigned index) {
  obj *p = alloc(T_PRIM);
  p->u.prim.index = index;
  intern(name)->u.sym.value = p;
}

static const prim_def_t prims[] = {
  {"+", p_add}, {"-", p_sub}, {"*", p_mul}, {"quotient", p_quotient}, {"remainder", p_remainder},
  {"modulo", p_modulo}, {"expt", p_expt}, {"=", p_eq_num}, {"<", p_lt}, {">", p_gt}, {"<=", p_le},
  {">=", p_ge}, {"cons", p_cons}, {"car", p_car}, {"cdr", p_cdr}, {"list", p_list}, {"null?", p_nullp},
  {"pair?", p_pairp}, {"eq?", p_eqp}, {"digits", p_digits}, {"print", p_print},
  {"save-image", p_save_image}, {"elapsed-ms", p_elapsed_ms},
};

static size_t nprims(void) {
  return sizeof prims / sizeof prims[0];
}

static const prim_def_t *prim(unsigned index) {
  return &prims[index];
}

static void init(void) {
  /* The GC heap starts at the host heap's break, which nobody else moves. */
  heap_lo = heap_hi = gclzone_sbrk(0);
  if ((void *)heap_lo == (void *)-1 || grow(2 * CHUNK) != 0) die("no host heap", NULL);
  s_t = intern("t");
  s_t->u.sym.value = s_t;
  s_quote = intern("quote"), s_if = intern("if"), s_define = intern("define"), s_set = intern("set!");
  s_lambda = intern("lambda"), s_let = intern("let"), s_begin = intern("begin"), s_and = intern("and");
  s_or = intern("or"), s_cond = intern("cond"), s_else = intern("else");
  for (unsigned i = 0; i < nprims(); i++) define_prim(prims[i].name, i);
}

__attribute__((noinline)) static void run(FILE *in) {
  int eof;
  for (;;) {
    obj *x = read_obj(in, &eof);
    if (eof) break;
    eval(x, NULL);
  }
}

static void report(void) {
  collect(); /* a last check, with only the globals alive */
  fflush(stdout);
  gclzone_bounds_t h = gclzone_heap_bounds(), a = gclzone_arena_bounds();
  printf("minilisp: %zu collections; the GC heap grew %zu times and shrank %zu times with gclzone_sbrk, "
         "peak %zu KiB\n", st.collections, st.grew, st.shrank, st.peak_bytes >> 10);
  printf("minilisp: GC heap %p-%p (%zu KiB) lies in the host heap %p-%p; the arena is %p-%p\n", (void *)heap_lo,
         (void *)heap_hi, (size_t)((char *)heap_hi - (char *)heap_lo) >> 10, h.base, h.limit, a.base, a.limit);
  printf("minilisp: checked at every collection: %zu limb arrays of live bignums were live arena blocks "
         "(gclzone_owns); %zu arena blocks visited by gclzone_walk lay outside the host heap and held %zu "
         "pointers into the GC heap\n", st.limbs_checked, st.blocks_walked, st.arena_roots);
  printf("minilisp: the GC heap and the GMP limbs never overlapped\n");
}

/* Where minilisp asks for its region: where the OS maps nothing on x86-64
 * Linux, so that an image's range is free in every later process. */
#define FIXED_BASE ((uintptr_t)0x300000000000)

int main(int argc, char **argv) {
  clock_gettime(CLOCK_MONOTONIC, &started);
  stack_top = (uintptr_t)__builtin_frame_address(0);
  int show_map = 0, i = 1;
  const char *image = NULL;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    if (strcmp(argv[i], "--map") == 0) show_map = 1;
    else if (strcmp(argv[i], "--no-walk") == 0) walk_arena = 0;
    else if (strcmp(argv[i], "--image") == 0 && i + 1 < argc) image = argv[++i];
    else die("usage: minilisp [--map] [--no-walk] [--image IMAGE] [FILE]", NULL);
  }
  /* First thing, before anything is allocated: start from the image, or
   * lay the region out at the fixed base (elsewhere if that is refused:
   * the address space may be smaller). GCLZONE_IMAGE has done the former
   * already, before main. */
  if (image) {
    gclzone_config_t cfg = {.image = image};
    if (gclzone_init(&cfg) != 0) die("cannot start from the image", strerror(errno));
  } else if (!gclzone_image_root()) {
    gclzone_config_t cfg = {.base = FIXED_BASE};
    (void)gclzone_init(&cfg);
  }
  FILE *in = i < argc ? fopen(argv[i], "r") : stdin;
  if (!in) die("cannot open", argv[i]);
  world_t *w = gclzone_image_root();
  if (w) {
    restore_world(w);
    printf("minilisp: started from the image, ready %.2f ms into main: %zu symbols, GC heap %zu KiB\n",
           ms_since(&started), nsyms, (size_t)((char *)heap_hi - (char *)heap_lo) >> 10);
  } else {
    init();
  }
  run(in);
  if (in != stdin) fclose(in);
  report();
  if (show_map) {
    size_t given = gclzone_trim();
    printf("minilisp: gclzone_trim() gave %zu KiB back to the OS\n", given >> 10);
    fflush(stdout);
    gclzone_print_map(1);
  }
  return 0;
}
