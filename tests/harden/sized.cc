/* sized.cc: the C++ sized delete probes (probes.c runs them). Each deletes
 * a block with a size it was not allocated with, through the sized
 * operator delete that GCC emits for C++14 and later (-fsized-deallocation
 * is the default there): the hardened mode must stop it with the fatal
 * line naming the block; otherwise it is a plain free. */
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <initializer_list>
#include <new>

#include "probes.h"

#define SIZED "=sized delete of %p with a size it was not allocated with"

static void *report(void *p) {
  *death_slot_cxx() = p;
  return p;
}

namespace {
// A class hierarchy without a virtual destructor: deleting a Derived
// through a Base pointer passes sizeof(Base).
struct Base {
  long a;
};
struct Derived : Base {
  long more[16];
};
struct BigDerived : Base {
  char more[300000];
};
struct Counted { // a destructor: new[] keeps a count, delete[] is sized
  long x;
  ~Counted() { x = 0; }
};
struct CountedMore : Counted {
  long y[8];
  ~CountedMore() { y[0] = 0; }
};
} // namespace

static void base_delete() {
  Base *b = new Derived();
  report(b);
  delete b;
}
static void base_delete_large() {
  Base *b = new BigDerived();
  report(b);
  delete b;
}
static void operator_delete_wrong() {
  void *p = report(::operator new(100));
  ::operator delete(p, 50);
}
static void array_delete_wrong() {
  CountedMore *a = new CountedMore[4];
  Counted *c = a; // deleting through the base: the size of 4 Counted, not 4 CountedMore
  report(reinterpret_cast<char *>(c) - sizeof(size_t));
  delete[] c;
}
static void aligned_delete_wrong() {
  void *p = report(::operator new(256, std::align_val_t(64)));
  ::operator delete(p, 100, std::align_val_t(64));
}

static const probe_t probes[] = {
  {"sized_delete_base_class", base_delete, SIZED},
  {"sized_delete_base_class_large", base_delete_large, SIZED},
  {"sized_delete_wrong_size", operator_delete_wrong, SIZED},
  {"sized_delete_array_base_class", array_delete_wrong, SIZED},
  {"sized_delete_aligned_wrong_size", aligned_delete_wrong, SIZED},
};

extern "C" const probe_t *cxx_probes(size_t *n) {
  *n = sizeof probes / sizeof probes[0];
  return probes;
}

// operator new and delete: libgclzone's when it is loaded (every block in
// its arena, each form bound to it), and the standard's contract either
// way: new(0) is a block, a failure calls the new handler and then throws
// std::bad_alloc, and the nothrow forms return nullptr. The number of
// failed checks.
static int calls;
static void handler() {
  calls++;
  std::set_new_handler(nullptr);
}
static int cxx_new_valid() {
  int bad = 0;
  auto owns = reinterpret_cast<bool (*)(const void *)>(dlsym(RTLD_DEFAULT, "gclzone_owns"));
  // Under valgrind memcheck its own operator new serves (and, failing,
  // aborts, as it cannot throw): only the plain calls are checked.
  // (valgrind redirects the calls, not what dlsym finds: its preload names it.)
  const char *preload = getenv("LD_PRELOAD");
  bool memcheck = preload && strstr(preload, "vgpreload");
  if (memcheck) owns = nullptr;
  const char *forms[] = {"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
                         "_ZdlPv", "_ZdaPv", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t"};
  for (const char *name : forms) {
    Dl_info info;
    void *f = dlsym(RTLD_DEFAULT, name);
    if (owns && (!f || !dladdr(f, &info) || !strstr(info.dli_fname, "libgclzone"))) bad++;
  }
  for (size_t size : {(size_t)0, (size_t)1, (size_t)100, (size_t)5000, (size_t)100000, (size_t)1000000}) {
    void *p = ::operator new(size), *q = ::operator new[](size);
    void *r = ::operator new(size, std::nothrow), *t = ::operator new[](size, std::nothrow);
    if (!p || !q || !r || !t || p == q || r == t) bad++;
    if (owns && (!owns(p) || !owns(q) || !owns(r) || !owns(t))) bad++;
    if (size) memset(p, 1, size), memset(q, 2, size), memset(r, 3, size), memset(t, 4, size);
    ::operator delete(p);
    ::operator delete[](q);
    ::operator delete(r, std::nothrow);
    ::operator delete[](t, std::nothrow);
  }
  if (memcheck) return bad;
  std::set_new_handler(handler);
  try {
    void *p = ::operator new(SIZE_MAX / 2);
    ::operator delete(p);
    bad++;
  } catch (const std::bad_alloc &) {
  }
  if (calls != 1) bad++;
  if (::operator new(SIZE_MAX / 2, std::nothrow) || ::operator new[](SIZE_MAX / 2, std::nothrow)) bad++;
  return bad;
}

// The right sizes never stop anything (valid.c runs this).
extern "C" int cxx_valid(void);
extern "C" int cxx_valid(void) {
  for (int i = 0; i < 1000; i++) {
    Derived *d = new Derived();
    delete d;
    Base *b = new Base();
    delete b;
    CountedMore *a = new CountedMore[i % 7 + 1];
    delete[] a;
    void *p = ::operator new(i + 1);
    ::operator delete(p, i + 1);
    void *q = ::operator new(i + 1, std::align_val_t(64));
    ::operator delete(q, i + 1, std::align_val_t(64));
    void *r = ::operator new[](i * 10 + 1);
    ::operator delete[](r, i * 10 + 1);
    BigDerived *big = new BigDerived();
    delete big;
  }
  return cxx_new_valid();
}
