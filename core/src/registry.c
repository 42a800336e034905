/* Kernel registry and plugin loader.
 *
 * A plugin registers kernels through the host table while the loader holds a
 * registrar for it. If anything goes wrong (no init symbol, ABI or size mismatch,
 * an init that fails half way) the loader removes every kernel that plugin
 * registered, closes the library and reports why: the registry is left exactly
 * as it was. */
/* dladdr (where this library was loaded from) is a GNU extension. */
#define _GNU_SOURCE
#include "internal.h"
#include "diffsim/kit.h"
#include "diffsim/solve.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <elf.h>
#endif

#ifndef DS_BUILD_PLUGIN_DIR
#define DS_BUILD_PLUGIN_DIR ""
#endif
#ifndef DS_INSTALL_PLUGIN_DIR
#define DS_INSTALL_PLUGIN_DIR ""
#endif
#ifndef DS_BUILD_LIB_DIR
#define DS_BUILD_LIB_DIR ""
#endif

static const char *precision_suffix(void) { return sizeof(ds_real) == 8 ? "f64" : "f32"; }

static int host_begin(ds_registrar *reg, const char *name, int abi, int real_size, int tensor_size,
                      int desc_size) {
  ds_ctx *ctx = reg->ctx;
  reg->failed = 1;
  if (abi != DS_ABI_VERSION)
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': built for ABI version %d, this diffsim has ABI version %d",
                   reg->name, abi, DS_ABI_VERSION);
  if (real_size != (int)sizeof(ds_real))
    return ds_fail(ctx, DS_ERR_PLUGIN,
                   "plugin '%s': built with sizeof(real)=%d, but the context uses %s (sizeof(real)=%d); "
                   "load the %s build of the plugin",
                   reg->name, real_size, precision_suffix(), (int)sizeof(ds_real), precision_suffix());
  if (tensor_size != (int)sizeof(ds_tensor) || desc_size != (int)sizeof(ds_kernel_desc))
    return ds_fail(ctx, DS_ERR_PLUGIN,
                   "plugin '%s': struct sizes differ from the host (tensor %d vs %d, kernel_desc %d vs %d); rebuild it",
                   reg->name, tensor_size, (int)sizeof(ds_tensor), desc_size, (int)sizeof(ds_kernel_desc));
  if (!name || !*name || strlen(name) >= sizeof reg->name || strchr(name, '.'))
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': invalid plugin name '%s'", reg->name, name ? name : "(null)");
  snprintf(reg->name, sizeof reg->name, "%s", name);
  snprintf(ctx->plugins[reg->plugin].name, sizeof ctx->plugins[reg->plugin].name, "%s", name);
  reg->begun = 1;
  reg->failed = 0;
  return DS_OK;
}

/* Counts a NULL-terminated table, refusing runaway ones (a missing terminator). */
static int count_args(const ds_arg_desc *a) {
  int n = 0;
  while (a && a[n].name && n <= DS_MAX_ARGS) n++;
  return n;
}
static int count_params(const char *const *p) {
  int n = 0;
  while (p && p[n] && n <= DS_MAX_PARAMS) n++;
  return n;
}

static const char *const DEVICE_NAMES[DS_DEVICE_COUNT] = {"cpu", "cuda", "mock"};

/* Two registrations of one name must declare the same arguments and params. */
static int same_tables(const ds_kernel *k, const ds_kernel_desc *d) {
  if (count_args(d->args) != k->nslots || count_params(d->params) != k->nparams) return 0;
  for (int i = 0; i < k->nslots; i++) {
    const ds_arg_desc *x = &k->desc.args[i], *y = &d->args[i];
    if (strcmp(x->name, y->name) || x->role != y->role || x->dtype != y->dtype || x->ndim != y->ndim ||
        x->flags != y->flags)
      return 0;
  }
  for (int i = 0; i < k->nparams; i++)
    if (strcmp(k->desc.params[i], d->params[i])) return 0;
  return 1;
}

/* Adds the device implementations of d to an existing kernel (a CUDA file
 * registering the kernels its CPU file declared). A slot filled twice is an error. */
static int merge(ds_ctx *ctx, ds_kernel *k, const ds_kernel_desc *d) {
  if (!same_tables(k, d))
    return ds_fail(ctx, DS_ERR_PLUGIN,
                   "kernel %s: registered again with different arguments or params (a second device's "
                   "implementation must use the same tables)", k->name);
  for (int dev = 0; dev < DS_DEVICE_COUNT; dev++) {
    if ((d->forward[dev] && k->desc.forward[dev]) || (d->adjoint[dev] && k->desc.adjoint[dev]))
      return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: already has a %s implementation", k->name, DEVICE_NAMES[dev]);
  }
  for (int dev = 0; dev < DS_DEVICE_COUNT; dev++) {
    if (d->forward[dev]) k->desc.forward[dev] = d->forward[dev];
    if (d->adjoint[dev]) k->desc.adjoint[dev] = d->adjoint[dev];
  }
  if (!k->desc.check) k->desc.check = d->check;
  return DS_OK;
}

static ds_kernel *find_quiet(ds_ctx *ctx, const char *full) {
  for (int i = 0; i < ctx->nkernels; i++)
    if (strcmp(ctx->kernels[i]->name, full) == 0) return ctx->kernels[i];
  return NULL;
}

static int host_register(ds_registrar *reg, const ds_kernel_desc *d) {
  ds_ctx *ctx = reg->ctx;
  if (!reg->begun)
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': register_kernel called before ds_plugin_begin", reg->name);
  if (!d || !d->name || !*d->name)
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': kernel without a name", reg->name);
  char full[96];
  if (snprintf(full, sizeof full, "%s.%s", reg->name, d->name) >= (int)sizeof full)
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': kernel name '%s' too long", reg->name, d->name);
  int nslots = count_args(d->args), nparams = count_params(d->params);
  if (nslots < 1 || nslots > DS_MAX_ARGS)
    return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: %d arguments (1..%d allowed; is the table NULL-terminated?)", full,
                   nslots, DS_MAX_ARGS);
  if (nparams > DS_MAX_PARAMS)
    return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: more than %d params (is the table NULL-terminated?)", full,
                   DS_MAX_PARAMS);
  int any = 0;
  for (int dev = 0; dev < DS_DEVICE_COUNT; dev++) any |= d->forward[dev] != NULL;
  if (!any) return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: no forward function for any device", full);
  for (int i = 0; i < nslots; i++) {
    const ds_arg_desc *a = &d->args[i];
    if (a->role < DS_IN || a->role > DS_ACC || (a->dtype != DS_REAL && a->dtype != DS_I32) || a->ndim < -1 ||
        a->ndim > DS_MAX_DIMS || (a->flags & ~(DS_LIST | DS_GUESS)) ||
        ((a->flags & DS_GUESS) && a->role != DS_NODIFF))
      return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: argument '%s' (#%d) is badly described", full, a->name, i + 1);
    if (i > 0 && (d->args[i - 1].flags & DS_LIST) && !(a->flags & DS_LIST))
      return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: argument '%s' follows a list; list arguments come last", full,
                     a->name);
    for (int j = 0; j < i; j++)
      if (strcmp(d->args[j].name, a->name) == 0)
        return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: two arguments are named '%s'", full, a->name);
  }
  for (int i = 0; i < nparams; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(d->params[j], d->params[i]) == 0)
        return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: two params are named '%s'", full, d->params[i]);
  ds_kernel *old = find_quiet(ctx, full);
  if (old) {
    if (old->plugin != reg->plugin)
      return ds_fail(ctx, DS_ERR_PLUGIN, "kernel %s: already registered by another plugin", full);
    return merge(ctx, old, d);
  }
  if (ctx->nkernels == ctx->capkernels) {
    int cap = ctx->capkernels ? ctx->capkernels * 2 : 64;
    ds_kernel **k = realloc(ctx->kernels, (size_t)cap * sizeof *k);
    if (!k) return ds_fail(ctx, DS_ERR_NOMEM, "register_kernel: out of memory");
    ctx->kernels = k;
    ctx->capkernels = cap;
  }
  ds_kernel *k = calloc(1, sizeof *k);
  if (!k) return ds_fail(ctx, DS_ERR_NOMEM, "register_kernel: out of memory");
  k->desc = *d;
  snprintf(k->name, sizeof k->name, "%s", full);
  k->plugin = reg->plugin;
  k->nslots = nslots;
  k->nparams = nparams;
  for (int i = 0; i < nslots; i++) k->nlists += (d->args[i].flags & DS_LIST) != 0;
  ctx->kernels[ctx->nkernels++] = k;
  return DS_OK;
}

static int host_state_size(ds_registrar *reg, size_t bytes, void (*destroy)(void *)) {
  ds_plugin_rec *r = &reg->ctx->plugins[reg->plugin];
  if (r->state) return ds_fail(reg->ctx, DS_ERR_PLUGIN, "plugin '%s': state_size called twice", reg->name);
  r->state = calloc(1, bytes ? bytes : 1);
  if (!r->state) return ds_fail(reg->ctx, DS_ERR_NOMEM, "plugin '%s': out of memory for its state", reg->name);
  r->state_bytes = bytes;
  r->state_destroy = destroy;
  return DS_OK;
}

static void free_state(ds_plugin_rec *r) {
  if (!r->state) return;
  if (r->state_destroy) r->state_destroy(r->state);
  free(r->state);
  r->state = NULL;
}

static int add_plugin_rec(ds_ctx *ctx, const char *name, const char *path, void *handle) {
  if (ctx->nplugins == ctx->capplugins) {
    int cap = ctx->capplugins ? ctx->capplugins * 2 : 16;
    ds_plugin_rec *p = realloc(ctx->plugins, (size_t)cap * sizeof *p);
    if (!p) return -1;
    ctx->plugins = p;
    ctx->capplugins = cap;
  }
  ds_plugin_rec *r = &ctx->plugins[ctx->nplugins];
  memset(r, 0, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->path, sizeof r->path, "%s", path);
  r->handle = handle;
  return ctx->nplugins++;
}

/* Removes every kernel of plugin `p` (always the last one added) and its record. */
static void rollback(ds_ctx *ctx, int p) {
  int n = 0;
  for (int i = 0; i < ctx->nkernels; i++) {
    if (ctx->kernels[i]->plugin == p)
      free(ctx->kernels[i]);
    else
      ctx->kernels[n++] = ctx->kernels[i];
  }
  ctx->nkernels = n;
  free_state(&ctx->plugins[p]);
  if (ctx->plugins[p].handle) dlclose(ctx->plugins[p].handle);
  ctx->nplugins = p;
}

int ds_registry_init(ds_ctx *ctx) {
  ds_host_api *h = &ctx->host;
  h->abi_version = DS_ABI_VERSION;
  h->size = sizeof *h;
  h->begin = host_begin;
  h->register_kernel = host_register;
  h->error = ds_host_error;
  h->log = ds_host_log;
  h->parallel_for = ds_parallel_for;
  h->alloc = ds_aligned_alloc;
  h->free = ds_aligned_free;
  h->threads = ds_host_threads;
  h->state_size = host_state_size;
  h->scratch = ds_scratch_get;
  h->kit = ds_kit_api_get();
  h->solve = ds_solve_api_get();
  int p = add_plugin_rec(ctx, "core", "(built in)", NULL);
  if (p < 0) return ds_fail(ctx, DS_ERR_NOMEM, "context: out of memory");
  ds_registrar reg = {ctx, p, 0, 0, "core"};
  int rc = ds_register_core_ops(h, &reg);
  if (rc != DS_OK) {
    rollback(ctx, p);
    return rc;
  }
  /* Core kernels run on the mock device through their CPU code. */
  for (int i = 0; i < ctx->nkernels; i++) {
    ds_kernel_desc *d = &ctx->kernels[i]->desc;
    if (d->forward[DS_CPU] && !d->forward[DS_MOCK]) d->forward[DS_MOCK] = ds_mock_forward;
    if (d->adjoint[DS_CPU] && !d->adjoint[DS_MOCK]) d->adjoint[DS_MOCK] = ds_mock_adjoint;
  }
  return DS_OK;
}

void ds_registry_free(ds_ctx *ctx) {
  for (int i = 0; i < ctx->nkernels; i++) free(ctx->kernels[i]);
  free(ctx->kernels);
  /* Close plugins last-loaded first; their state goes while their code is there. */
  for (int p = ctx->nplugins - 1; p >= 0; p--) {
    free_state(&ctx->plugins[p]);
    if (ctx->plugins[p].handle) dlclose(ctx->plugins[p].handle);
  }
  free(ctx->plugins);
  free(ctx->search_path);
}

int ds_builtin_begin(ds_registrar *reg) {
  return host_begin(reg, "core", DS_ABI_VERSION, (int)sizeof(ds_real), (int)sizeof(ds_tensor),
                    (int)sizeof(ds_kernel_desc));
}

/* ---- search path ------------------------------------------------------ */

/* The built-in part of the search path depends on where this core library was
 * loaded from. From the build tree: the build's plugins (never the installed
 * ones, which may be of another build). Installed: <libdir>/diffsim/plugins
 * beside the library itself, so an install moved to another prefix (a test's
 * temporary one, a relocated package) still finds its own plugins, then the
 * configured install directory. Computed once; it cannot change. */
static const char *builtin_plugin_path(void) {
  static char buf[2048];
  static int done;
  if (done) return buf;
  char self[1024] = "";
  Dl_info info;
  if (dladdr((void *)&builtin_plugin_path, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    snprintf(self, sizeof self, "%s", info.dli_fname);
    *strrchr(self, '/') = 0;
  }
  /* Compared resolved: the library may have been opened through a relative
   * path or a symlink. */
  char self_real[PATH_MAX], build_real[PATH_MAX];
  int in_build = *self && *DS_BUILD_LIB_DIR && realpath(self, self_real) && realpath(DS_BUILD_LIB_DIR, build_real) &&
                 strcmp(self_real, build_real) == 0;
  if (in_build) {
    snprintf(buf, sizeof buf, "%s", DS_BUILD_PLUGIN_DIR);
  } else {
    char near[1100] = "";
    if (*self) snprintf(near, sizeof near, "%s/diffsim/plugins", self);
    int same = *near && strcmp(near, DS_INSTALL_PLUGIN_DIR) == 0;
    snprintf(buf, sizeof buf, "%s%s%s", same ? "" : near, (!same && *near && *DS_INSTALL_PLUGIN_DIR) ? ":" : "",
             DS_INSTALL_PLUGIN_DIR);
    if (!*buf) snprintf(buf, sizeof buf, "%s", DS_BUILD_PLUGIN_DIR);
  }
  done = 1;
  return buf;
}

const char *ds_plugin_path(const ds_ctx *ctx) {
  ds_ctx *c = (ds_ctx *)ctx;
  const char *env = getenv("DIFFSIM_PLUGIN_PATH");
  if (env && !*env) env = NULL;
  snprintf(c->path_buf, sizeof c->path_buf, "%s%s%s%s%s", ctx->search_path ? ctx->search_path : "",
           ctx->search_path ? ":" : "", env ? env : "", env ? ":" : "", builtin_plugin_path());
  return c->path_buf;
}

int ds_plugin_add_path(ds_ctx *ctx, const char *dir) {
  if (!dir || !*dir) return ds_fail(ctx, DS_ERR_ARG, "plugin_add_path: the directory is %s", dir ? "empty" : "NULL");
  size_t old = ctx->search_path ? strlen(ctx->search_path) : 0;
  char *s = malloc(old + strlen(dir) + 2);
  if (!s) return ds_fail(ctx, DS_ERR_NOMEM, "plugin_add_path: out of memory");
  /* Newest first: a directory added later wins. */
  sprintf(s, "%s%s%s", dir, old ? ":" : "", old ? ctx->search_path : "");
  free(ctx->search_path);
  ctx->search_path = s;
  return DS_OK;
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds lib<name>_<prec>.so (or <name>_<prec>.so) on the search path. */
static int find_plugin(ds_ctx *ctx, const char *name, char *out, size_t n) {
  const char *path = ds_plugin_path(ctx);
  char dir[1024];
  while (*path) {
    size_t len = strcspn(path, ":");
    if (len > 0 && len < sizeof dir) {
      memcpy(dir, path, len);
      dir[len] = 0;
      const char *forms[] = {"%s/libds_%s_%s.so", "%s/ds_%s_%s.so", "%s/%s_%s.so"};
      for (int f = 0; f < 3; f++) {
        snprintf(out, n, forms[f], dir, name, precision_suffix());
        if (file_exists(out)) return 1;
      }
    }
    path += len;
    if (*path == ':') path++;
  }
  return 0;
}

/* What can be checked before dlopen, which may crash (SIGBUS on a truncated
 * mapping) or give a cryptic message: the path is a regular, non-empty file,
 * an ELF shared object of this platform's class, byte order and machine, and
 * every loadable segment lies inside the file. */
#ifdef __linux__
#if defined(__x86_64__)
#define DS_EM EM_X86_64
#elif defined(__aarch64__)
#define DS_EM EM_AARCH64
#elif defined(__i386__)
#define DS_EM EM_386
#elif defined(__arm__)
#define DS_EM EM_ARM
#elif defined(__powerpc64__)
#define DS_EM EM_PPC64
#elif defined(__riscv)
#define DS_EM EM_RISCV
#endif
#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Ehdr ds_ehdr;
typedef Elf64_Phdr ds_phdr;
#define DS_ELFCLASS ELFCLASS64
#else
typedef Elf32_Ehdr ds_ehdr;
typedef Elf32_Phdr ds_phdr;
#define DS_ELFCLASS ELFCLASS32
#endif

static const char *machine_name(int m) {
  switch (m) {
    case EM_X86_64: return "x86-64";
    case EM_AARCH64: return "AArch64";
    case EM_386: return "x86 (32-bit)";
    case EM_ARM: return "ARM (32-bit)";
    case EM_PPC64: return "PowerPC64";
    case EM_RISCV: return "RISC-V";
    default: return "another machine";
  }
}

static int check_shared_object(ds_ctx *ctx, const char *label, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': cannot open %s: no such file", label, path);
  if (S_ISDIR(st.st_mode))
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is a directory, not a shared object", label, path);
  if (!S_ISREG(st.st_mode))
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is not a regular file", label, path);
  if (st.st_size == 0) return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is empty, not a shared object", label, path);
  FILE *f = fopen(path, "rb");
  if (!f) return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': cannot open %s for reading", label, path);
  unsigned char id[EI_NIDENT] = {0};
  size_t got = fread(id, 1, sizeof id, f);
  int rc = DS_OK;
  if (got < SELFMAG || memcmp(id, ELFMAG, SELFMAG) != 0) {
    rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is not an ELF shared object (no ELF header)", label, path);
  } else if (got < EI_NIDENT || (size_t)st.st_size < sizeof(ds_ehdr)) {
    rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is truncated (%lld bytes, shorter than an ELF header)", label,
                 path, (long long)st.st_size);
  } else if (id[EI_CLASS] != DS_ELFCLASS) {
    rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is a %s ELF object, this process is %s", label, path,
                 id[EI_CLASS] == ELFCLASS32 ? "32-bit" : id[EI_CLASS] == ELFCLASS64 ? "64-bit" : "bad-class",
                 DS_ELFCLASS == ELFCLASS64 ? "64-bit" : "32-bit");
  } else {
    ds_ehdr eh;
    rewind(f);
    if (fread(&eh, 1, sizeof eh, f) != sizeof eh) {
      rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is truncated (cannot read its ELF header)", label, path);
    } else if ((id[EI_DATA] == ELFDATA2LSB) != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)) {
      rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s has the other byte order than this machine", label, path);
    } else if (eh.e_type != ET_DYN) {
      rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is an ELF %s, not a shared object (build it with -shared)",
                   label, path, eh.e_type == ET_EXEC ? "executable" : eh.e_type == ET_REL ? "object file" : "file");
#ifdef DS_EM
    } else if (eh.e_machine != DS_EM) {
      rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is built for %s (ELF machine %d), this machine is %s", label,
                   path, machine_name(eh.e_machine), (int)eh.e_machine, machine_name(DS_EM));
#endif
    } else if (eh.e_phentsize != sizeof(ds_phdr) || eh.e_phnum == 0 ||
               (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(ds_phdr) > (uint64_t)st.st_size) {
      rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is truncated or corrupt (program headers past the end of "
                   "its %lld bytes)", label, path, (long long)st.st_size);
    } else if (fseek(f, (long)eh.e_phoff, SEEK_SET) == 0) {
      for (int i = 0; i < eh.e_phnum && rc == DS_OK; i++) {
        ds_phdr ph;
        if (fread(&ph, 1, sizeof ph, f) != sizeof ph) {
          rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is truncated (cannot read program header %d)", label, path,
                       i);
        } else if (ph.p_type == PT_LOAD && (uint64_t)ph.p_offset + (uint64_t)ph.p_filesz > (uint64_t)st.st_size) {
          rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is truncated (%lld bytes; a loadable segment ends at %llu)",
                       label, path, (long long)st.st_size, (unsigned long long)(ph.p_offset + ph.p_filesz));
        }
      }
    }
  }
  fclose(f);
  return rc;
}
#else
static int check_shared_object(ds_ctx *ctx, const char *label, const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s is a directory, not a shared object", label, path);
  return DS_OK;
}
#endif

int ds_plugin_load(ds_ctx *ctx, const char *name_or_path) {
  if (!name_or_path || !*name_or_path) return ds_fail(ctx, DS_ERR_ARG, "plugin_load: empty plugin name");
  const char *slash = strchr(name_or_path, '/');
  char path[1024];
  char label[64];
  if (slash) {
    snprintf(path, sizeof path, "%s", name_or_path);
    const char *base = strrchr(name_or_path, '/') + 1;
    snprintf(label, sizeof label, "%s", base);
  } else {
    snprintf(label, sizeof label, "%s", name_or_path);
    for (int p = 0; p < ctx->nplugins; p++)
      if (strcmp(ctx->plugins[p].name, name_or_path) == 0) return DS_OK; /* already loaded */
    if (!find_plugin(ctx, name_or_path, path, sizeof path))
      return ds_fail(ctx, DS_ERR_NOT_FOUND,
                     "plugin '%s' not found: looked for libds_%s_%s.so in '%s' (set DIFFSIM_PLUGIN_PATH)",
                     name_or_path, name_or_path, precision_suffix(), ds_plugin_path(ctx));
  }
  for (int p = 0; p < ctx->nplugins; p++)
    if (strcmp(ctx->plugins[p].path, path) == 0) return DS_OK;
  int checked = check_shared_object(ctx, label, path);
  if (checked != DS_OK) return checked;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': cannot open %s: %s", label, path, dlerror());
  int (*init)(const ds_host_api *, ds_registrar *) = NULL;
  *(void **)&init = dlsym(h, "ds_plugin_init");
  if (!init) {
    dlclose(h);
    return ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': %s exports no ds_plugin_init symbol", label, path);
  }
  int p = add_plugin_rec(ctx, label, path, h);
  if (p < 0) {
    dlclose(h);
    return ds_fail(ctx, DS_ERR_NOMEM, "plugin_load: out of memory");
  }
  ds_registrar reg = {ctx, p, 0, 0, ""};
  snprintf(reg.name, sizeof reg.name, "%s", label);
  ds_clear_error(ctx);
  int rc = init(&ctx->host, &reg);
  if (rc == DS_OK && !reg.begun) {
    rc = ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': init returned without calling ds_plugin_begin", label);
  } else if (rc != DS_OK) {
    char why[DS_ERRMSG];
    snprintf(why, sizeof why, "%s", ctx->error[0] ? ctx->error : "no reason given");
    ds_fail(ctx, DS_ERR_PLUGIN, "plugin '%s': init failed (status %d): %s", label, rc, why);
    rc = DS_ERR_PLUGIN;
  }
  if (rc != DS_OK) {
    rollback(ctx, p);
    return rc;
  }
  ds_logf(ctx, DS_LOG_DEBUG, "loaded plugin '%s' from %s", ctx->plugins[p].name, path);
  return DS_OK;
}

/* ---- kernel lookup ---------------------------------------------------- */

const ds_kernel *ds_kernel_find(ds_ctx *ctx, const char *name) {
  if (!name) {
    ds_fail(ctx, DS_ERR_ARG, "kernel_find: name is NULL");
    return NULL;
  }
  const ds_kernel *k = find_quiet(ctx, name);
  if (!k)
    ds_fail(ctx, DS_ERR_NOT_FOUND, "unknown kernel '%s'%s", name,
            strchr(name, '.') ? " (is its plugin loaded?)" : " (kernel names are 'plugin.op')");
  return k;
}

int ds_kernel_count(const ds_ctx *ctx) { return ctx->nkernels; }
const char *ds_kernel_name_at(const ds_ctx *ctx, int i) {
  return i >= 0 && i < ctx->nkernels ? ctx->kernels[i]->name : NULL;
}
const char *ds_kernel_name(const ds_kernel *k) { return k->name; }
int ds_kernel_nargs(const ds_kernel *k) { return k->nslots; }
int ds_kernel_nparams(const ds_kernel *k) { return k->nparams; }
int ds_kernel_arg_role(const ds_kernel *k, int i) { return i >= 0 && i < k->nslots ? k->desc.args[i].role : -1; }
int ds_kernel_arg_dtype(const ds_kernel *k, int i) { return i >= 0 && i < k->nslots ? k->desc.args[i].dtype : -1; }
int ds_kernel_arg_ndim(const ds_kernel *k, int i) { return i >= 0 && i < k->nslots ? k->desc.args[i].ndim : -2; }
int ds_kernel_arg_flags(const ds_kernel *k, int i) { return i >= 0 && i < k->nslots ? k->desc.args[i].flags : 0; }
const char *ds_kernel_arg_name(const ds_kernel *k, int i) {
  return i >= 0 && i < k->nslots ? k->desc.args[i].name : NULL;
}
const char *ds_kernel_param_name(const ds_kernel *k, int i) {
  return i >= 0 && i < k->nparams ? k->desc.params[i] : NULL;
}
int ds_kernel_has_device(const ds_kernel *k, int device, int adjoint) {
  if (device < 0 || device >= DS_DEVICE_COUNT) return 0;
  return (adjoint ? k->desc.adjoint[device] : k->desc.forward[device]) != NULL;
}
