-- MuJoCo as a peer engine, through the C shim dsmj.c (built only when MuJoCo
-- is installed). For the peer test and the bench; not a diffsim plugin.
--
--   local peer = require("plugins.articulation.mujoco.peer")
--   local mj, why = peer.open()      -- nil and a one-line reason when not built
--   local m = mj.load_file(path)     -- or mj.load_string(xml)
--   m.nq, m.nv, m.nu; m:field("body_mass") -> Lua array
--   m:set_state(qpos, qvel) (nil: qpos0, zeros); m:set_ctrl(u); m:step(n); m:state() -> qpos, qvel, t
--   m:rollout(n, ctrl) -> {qpos rows}, {qvel rows}
--   m:fd_rollout(q0, v0, ctrl, n, wq, wv, eps) / m:fd_transition(...) -> J, gq, gv, gu
local ffi = require("ffi")

pcall(ffi.cdef, [[
typedef struct dsmj dsmj;
const char *dsmj_version(void);
dsmj *dsmj_load_file(const char *path, char *err, int errlen);
dsmj *dsmj_load_string(const char *xml, char *err, int errlen);
void dsmj_free(dsmj *s);
void dsmj_sizes(const dsmj *s, int *out);
int dsmj_field(const dsmj *s, const char *name, double *out, int cap);
void dsmj_set_option(dsmj *s, double timestep, int integrator);
void dsmj_reset(dsmj *s);
void dsmj_set_state(dsmj *s, const double *qpos, const double *qvel);
void dsmj_set_ctrl(dsmj *s, const double *ctrl);
void dsmj_step(dsmj *s, int n);
void dsmj_get_state(const dsmj *s, double *qpos, double *qvel, double *time);
void dsmj_rollout(dsmj *s, int n, const double *ctrl, double *qpos_out, double *qvel_out);
double dsmj_fd_rollout(dsmj *s, const double *qpos0, const double *qvel0, const double *ctrl, int n,
                       const double *wq, const double *wv, double eps, double *g_qpos, double *g_qvel, double *g_ctrl);
double dsmj_fd_transition(dsmj *s, const double *qpos0, const double *qvel0, const double *ctrl, int n,
                          const double *wq, const double *wv, double eps, double *g_qpos, double *g_qvel, double *g_ctrl);
]])

local M = {}
local lib, why

-- The shim lives beside the core libraries of the build tree (the launcher
-- and ctest set DIFFSIM_LIB_DIR), else in ./build.
local function candidates()
  local env = os.getenv("DIFFSIM_LIB_DIR")
  if env and env ~= "" then return {env} end
  return {"build"}
end

local function arr(t, n)
  local a = ffi.new("double[?]", math.max(n, 1))
  for i = 1, n do a[i - 1] = t and t[i] or 0 end
  return a
end
local function tbl(a, n)
  local t = {}
  for i = 1, n do t[i] = a[i - 1] end
  return t
end

local Model = {}
Model.__index = Model

local function wrap(h)
  local sz = ffi.new("int[6]")
  lib.dsmj_sizes(h, sz)
  local m = setmetatable({h = ffi.gc(h, lib.dsmj_free), nq = sz[0], nv = sz[1], nu = sz[2],
                          nbody = sz[3], njnt = sz[4], ngeom = sz[5]}, Model)
  m.qbuf, m.vbuf, m.tbuf = ffi.new("double[?]", m.nq), ffi.new("double[?]", m.nv), ffi.new("double[1]")
  return m
end

function Model:field(name)
  local cap = 16 * (self.nbody + self.njnt + self.ngeom + self.nu + self.nq + 4)
  local buf = ffi.new("double[?]", cap)
  local n = lib.dsmj_field(self.h, name, buf, cap)
  if n < 0 then error("mujoco peer: unknown field '" .. tostring(name) .. "'", 2) end
  return tbl(buf, n)
end

function Model:set_option(timestep, integrator) lib.dsmj_set_option(self.h, timestep or -1, integrator or -1) end
function Model:reset() lib.dsmj_reset(self.h) end
-- q nil: the model's qpos0; v nil: zeros. Time restarts at 0.
function Model:set_state(q, v)
  self.q0 = self.q0 or self:field("qpos0")
  lib.dsmj_set_state(self.h, arr(q or self.q0, self.nq), arr(v, self.nv))
end
function Model:set_ctrl(u) lib.dsmj_set_ctrl(self.h, arr(u, self.nu)) end
function Model:step(n) lib.dsmj_step(self.h, n or 1) end
function Model:state()
  lib.dsmj_get_state(self.h, self.qbuf, self.vbuf, self.tbuf)
  return tbl(self.qbuf, self.nq), tbl(self.vbuf, self.nv), self.tbuf[0]
end

-- ctrl: nil, or a flat array of n * nu numbers (step-major).
function Model:rollout(n, ctrl)
  local qs, vs = ffi.new("double[?]", n * self.nq), ffi.new("double[?]", n * self.nv)
  lib.dsmj_rollout(self.h, n, ctrl and arr(ctrl, n * self.nu) or nil, qs, vs)
  local Q, V = {}, {}
  for t = 0, n - 1 do
    local q, v = {}, {}
    for i = 1, self.nq do q[i] = qs[t * self.nq + i - 1] end
    for i = 1, self.nv do v[i] = vs[t * self.nv + i - 1] end
    Q[t + 1], V[t + 1] = q, v
  end
  return Q, V
end

-- The raw C rollout on caller-owned double buffers (the bench's timing loop).
function Model:rollout_raw(n, ctrl_ptr) lib.dsmj_rollout(self.h, n, ctrl_ptr, nil, nil) end

local function fd(fn, self, q0, v0, ctrl, n, wq, wv, eps)
  local gq, gv = ffi.new("double[?]", self.nv), ffi.new("double[?]", self.nv)
  local nu = math.max(self.nu, 1)
  local gu = ffi.new("double[?]", n * nu)
  local J = lib[fn](self.h, arr(q0, self.nq), arr(v0, self.nv), arr(ctrl, n * self.nu), n,
                    arr(wq, self.nq), arr(wv, self.nv), eps or 1e-6, gq, gv, gu)
  return J, tbl(gq, self.nv), tbl(gv, self.nv), tbl(gu, n * self.nu)
end
function Model:fd_rollout(...) return fd("dsmj_fd_rollout", self, ...) end
function Model:fd_transition(...) return fd("dsmj_fd_transition", self, ...) end

local mj = {}
local function load(fnname, s)
  local err = ffi.new("char[1024]")
  local h = lib[fnname](s, err, 1024)
  if h == nil then error("mujoco peer: MuJoCo refused the model: " .. ffi.string(err), 3) end
  return wrap(h)
end
function mj.load_file(path) return load("dsmj_load_file", path) end
function mj.load_string(text) return load("dsmj_load_string", text) end

-- The peer, or nil and a one-line reason (MuJoCo absent: the shim was not built).
function M.open()
  if lib then return mj end
  if why then return nil, why end
  for _, d in ipairs(candidates()) do
    local ok, l = pcall(ffi.load, d .. "/libds_mujoco_shim.so")
    if ok then
      lib = l
      mj.version = ffi.string(lib.dsmj_version())
      return mj
    end
  end
  why = "MuJoCo peer shim libds_mujoco_shim.so not built (install libmujoco-dev and rebuild)"
  return nil, why
end

return M
