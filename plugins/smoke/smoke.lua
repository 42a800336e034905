-- Lua front end of the smoke plugin: local smoke = ds.plugin("smoke")
--
-- Grids are 2D {nx, ny} or 3D {nx, ny, nz} tensors; velocity component d
-- displaces index d, in cells per step. Every function takes an optional
-- options table last:
--   bc        "periodic" (default) or "wall"
--   h         cell size (default 1 / nx, the reference's h)
--   solver    "jacobi" (default: fixed sweeps, differentiated through) or "cg"
--             (solve to tol; its adjoint is one CG solve of the transposed system)
--   iters     Jacobi sweeps (default 6)
--   tol       CG relative residual (default 1e-6 in f64, 1e-5 in f32)
--   max_iters CG iteration cap (default 2000)
--
--   smoke.advect(f, vx, vy [, vz], opts)            -> f advected by v
--   smoke.advect_velocity(vx, vy [, vz], opts)      -> v advected by itself
--   smoke.project(vx, vy [, vz], opts)              -> divergence-free v..., p
--   smoke.step(state, opts)                          -> next state {v = {...}, s = smoke}
--   smoke.rollout(state, steps, opts)                -> final state (opts.frames: list to fill)
--   smoke.divergence / gradsub / laplacian / force / inflow: the building blocks
local ds = require("diffsim")

local M = {}

local K = setmetatable({}, {__index = function(t, name)
  local k = ds.kernel("smoke." .. name)
  t[name] = k
  return k
end})

local function bc_code(opts, fn)
  local bc = opts and opts.bc or "periodic"
  if bc == "periodic" or bc == 0 then return 0 end
  if bc == "wall" or bc == "walls" or bc == 1 then return 1 end
  error("smoke." .. fn .. ": bc must be 'periodic' or 'wall', got '" .. tostring(bc) .. "'", 3)
end

local function cell_size(opts, v) return (opts and opts.h) or 1 / v:shape()[1] end

-- Every smoke function takes the same options table (a step hands its options
-- on to advect, project, ...), so one set of names is checked everywhere: a
-- misspelt option is an error, never silently the default.
local OPTION_KEYS = {"bc", "h", "solver", "iters", "tol", "max_iters", "p_guess", "force", "buoyancy", "dt",
                     "reference", "inflow", "fused", "warm_start", "frames", "on_step"}
local function check_opts(fn, opts) return ds.check_options("smoke." .. fn, opts, OPTION_KEYS) end

-- Splits (a, b [, c], opts) into the tensors and the options table.
local function split(fn, ...)
  local n = select("#", ...)
  local args = {...}
  local opts
  if n > 0 and type(args[n]) == "table" and not ds.is_tensor(args[n]) then
    opts = args[n]
    n = n - 1
  elseif n > 0 and args[n] == nil then
    n = n - 1
  end
  local ts = {}
  for i = 1, n do ts[i] = args[i] end
  return ts, check_opts(fn, opts)
end

local function check_tensors(fn, ts, lo, hi)
  if #ts < lo or #ts > hi then
    error(string.format("smoke.%s: expected %d to %d tensors, got %d", fn, lo, hi, #ts), 3)
  end
  for i = 1, #ts do
    if not ds.is_tensor(ts[i]) then error(string.format("smoke.%s: argument #%d must be a tensor", fn, i), 3) end
  end
end

function M.bc_code(opts) return bc_code(opts, "bc_code") end

-- An integer argument in [lo, hi], refused by name with the valid range.
local function int_arg(fn, name, v, lo, hi, level)
  hi = hi or 2 ^ 31 - 1
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo or v > hi then
    error(string.format("smoke.%s: %s must be an integer in [%d, %d], got %s", fn, name, lo, hi, tostring(v)), level + 1)
  end
  return v
end

-- f(x - v(x)), bilinear (2D) or trilinear (3D).
function M.advect(f, ...)
  local v, opts = split("advect", ...)
  check_tensors("advect", {f, unpack(v)}, 3, 4)
  local out = ds.empty_like(f)
  K.advect:launch({f = f, out = out, v = v}, {bc = bc_code(opts, "advect")})
  return out
end

-- Self-advection of the velocity (all components sampled at once).
function M.advect_velocity(...)
  local v, opts = split("advect_velocity", ...)
  check_tensors("advect_velocity", v, 2, 3)
  local bc = bc_code(opts, "advect_velocity")
  if #v == 3 then
    local a, b, c = ds.empty_like(v[1]), ds.empty_like(v[2]), ds.empty_like(v[3])
    K.advect_vel:launch({v = v, v_out = {a, b, c}}, {bc = bc})
    return a, b, c
  end
  local a, b = ds.empty_like(v[1]), ds.empty_like(v[2])
  K.advect_vel:launch({v = v, v_out = {a, b}}, {bc = bc})
  return a, b
end


local function default_tol() return ds.precision == "f64" and 1e-6 or 1e-5 end

-- Pressure projection. Returns the projected velocity components and p.
function M.project(...)
  local v, opts = split("project", ...)
  check_tensors("project", v, 2, 3)
  local bc, h = bc_code(opts, "project"), cell_size(opts, v[1])
  local outs = {}
  for i = 1, #v do outs[i] = ds.empty_like(v[i]) end
  local p = ds.empty_like(v[1])
  local solver = opts.solver or "jacobi"
  local args = {p = p, v = v, v_out = outs}
  if solver == "jacobi" then
    K.project:launch(args, {bc = bc, iters = opts.iters or 6, h = h})
  elseif solver == "cg" then
    args.p_guess = opts.p_guess or ds.zeros(v[1]:shape())
    K.project_cg:launch(args,
      {bc = bc, h = h, tol = opts.tol or default_tol(), max_iters = opts.max_iters or 2000})
  else
    error("smoke.project: solver must be 'jacobi' or 'cg', got '" .. tostring(solver) .. "'", 2)
  end
  outs[#v + 1] = p
  return unpack(outs, 1, #v + 1)
end

function M.divergence(...)
  local v, opts = split("divergence", ...)
  check_tensors("divergence", v, 2, 3)
  local div = ds.empty_like(v[1])
  K.divergence:launch({div = div, v = v}, {bc = bc_code(opts, "divergence"), h = cell_size(opts, v[1])})
  return div
end

-- v - grad p (central differences, the projection's gradient).
function M.gradsub(...)
  local v, opts = split("gradsub", ...)
  check_tensors("gradsub", v, 3, 4)
  local nd = #v - 1
  local p, bc, h = v[nd + 1], bc_code(opts, "gradsub"), cell_size(opts, v[1])
  local outs = {}
  for i = 1, nd do -- one launch per component: out_i = v_i - G_i p
    outs[i] = ds.empty_like(v[i])
    K.gradsub:launch({v = v[i], p = p, out = outs[i]}, {bc = bc, h = h, axis = i - 1})
  end
  return unpack(outs)
end

-- iters Jacobi sweeps of the compact periodic Laplacian from the initial
-- pressure p0 (the reference's warm-started chain): returns sweep iters - 1 and
-- sweep iters. Differentiable in div and p0.
function M.jacobi(div, p0, opts)
  opts = check_opts("jacobi", opts)
  check_tensors("jacobi", {div, p0}, 2, 2)
  local iters = opts.iters or 6
  if type(iters) ~= "number" or iters ~= math.floor(iters) or iters < 1 then
    error("smoke.jacobi: iters must be an integer >= 1, got " .. tostring(iters), 2)
  end
  local p_prev, p = ds.empty_like(div), ds.empty_like(div)
  K.jacobi:launch({div = div, p0 = p0, p_prev = p_prev, p = p}, {bc = bc_code(opts, "jacobi"), iters = iters})
  return p_prev, p
end

-- A p = D G p, the operator the CG projection inverts (self-adjoint).
function M.laplacian(p, opts)
  check_opts("laplacian", opts)
  local out = ds.empty_like(p)
  K.laplacian:launch({p = p, out = out}, {bc = bc_code(opts, "laplacian")})
  return out
end

-- v + dt (f + b s): external force fields f (tensors or nil for none) and a
-- buoyancy b per unit of smoke s. opts.buoyancy is a table with one entry per
-- component (a number or a 0-dim tensor; missing: 0) or one {D} tensor. A
-- tensor that requires grad gets its gradient (identify buoyancy from data).
function M.force(v, s, f, opts)
  opts = check_opts("force", opts)
  local nd = #v
  local b = opts.buoyancy or {}
  local whole = ds.is_tensor(b) -- one {D} tensor for all components
  local dt = opts.dt or 1
  local zero
  local outs = {}
  -- Last component first: the tape runs the adjoints in reverse, so the smoke
  -- gradient sums its buoyancy terms x, y, z in order, as one fused kernel would
  -- (same rounding in f32 as before the kernel was split per component).
  for i = nd, 1, -1 do
    local fi = f and f[i]
    if not fi then zero = zero or ds.zeros(v[1]:shape()); fi = zero end
    local bi = whole and b or b[i] or 0
    if type(bi) == "number" then bi = ds.tensor(bi) end
    if not ds.is_tensor(bi) then
      error(string.format("smoke.force: buoyancy[%d] must be a number or a tensor, got %s", i, type(bi)), 2)
    end
    outs[i] = ds.empty_like(v[i])
    K.force:launch({v = v[i], s = s, f = fi, buoyancy = bi, out = outs[i]}, {dt = dt, axis = i - 1})
  end
  return outs
end

-- s + mask (value - s): sets the source cells (mask 1) to value.
function M.inflow(s, mask, value)
  local out = ds.empty_like(s)
  K.inflow:launch({s = s, mask = mask, value = value, out = out})
  return out
end

-- One stable-fluids step of the reference: advect v by itself, project, then
-- advect the smoke (and apply optional forces / inflow before advecting). With
-- Jacobi and no inflow it is one fused kernel (smoke.step); opts.fused = false
-- composes it from the three kernels instead (the same numbers).
-- state = {v = {vx, vy [, vz]}, s = smoke [, p = last pressure (CG warm start)]}
--
-- opts.reference = true: the reference's (smoke_taichi.py) pressure chain. Its
-- Jacobi sweeps of step t start from step t-1's last sweep (warm start; zero at
-- step 1), and its velocity correction of step t uses sweep iters-1 of step t-1
-- (zero at step 1, so step 1 is not projected):
--   v1 = advect(v, v); p_lag', p' = jacobi(div v1, from p); v = v1 - grad p_lag
-- state.p and state.p_lag carry the two pressures (missing: zero); the gradient
-- flows through them, as through the reference's pressure buffers.
local function reference_step(state, v, s, opts)
  if opts.solver and opts.solver ~= "jacobi" then
    error("smoke.step: reference = true runs the reference's Jacobi chain, not solver '" .. tostring(opts.solver) .. "'", 3)
  end
  local nd = #v
  local a = {M.advect_velocity(v[1], v[2], v[3], opts)}
  local div = M.divergence(a[1], a[2], a[3], opts)
  local zero
  local function z() zero = zero or ds.zeros(v[1]:shape()); return zero end
  local p_lag, p = M.jacobi(div, state.p or z(), opts)
  local g = {}
  for i = 1, nd do g[i] = a[i] end
  g[nd + 1] = state.p_lag or z()
  g[nd + 2] = opts
  local nv = {M.gradsub(unpack(g, 1, nd + 2))}
  if opts.inflow then s = M.inflow(s, opts.inflow.mask, opts.inflow.value) end
  local ns = M.advect(s, nv[1], nv[2], nv[3], opts)
  return {v = nv, s = ns, p = p, p_lag = p_lag}
end

local function check_state(fn, state)
  if type(state) ~= "table" or type(state.v) ~= "table" or not ds.is_tensor(state.s) then
    error("smoke." .. fn .. ": state must be a table {v = {vx, vy [, vz]}, s = smoke tensor}, got " ..
          (type(state) == "table" and "a table without " .. (ds.is_tensor(state.s) and "v" or "s") or type(state)), 3)
  end
end

function M.step(state, opts)
  check_state("step", state)
  opts = check_opts("step", opts)
  local v = state.v
  local nd = #v
  local s = state.s
  if opts.force or opts.buoyancy then
    v = M.force(v, s, opts.force, {dt = opts.dt or 1, buoyancy = opts.buoyancy})
  end
  if opts.reference then return reference_step(state, v, s, opts) end
  local solver = opts.solver or "jacobi"
  if solver == "jacobi" and not opts.inflow and opts.fused ~= false then
    -- the fused step kernel: one launch, v1 never stored (same numbers)
    local outs = {}
    for i = 1, nd do outs[i] = ds.empty_like(v[i]) end
    local ns = ds.empty_like(s)
    local params = {bc = bc_code(opts, "step"), iters = opts.iters or 6, h = cell_size(opts, v[1])}
    K.step:launch({s = s, s_out = ns, v = v, v_out = outs}, params)
    return {v = outs, s = ns}
  end
  local a = {M.advect_velocity(v[1], v[2], v[3], opts)}
  local popts = opts
  if solver == "cg" and opts.warm_start ~= false and state.p then
    popts = {p_guess = state.p}
    for k, v2 in pairs(opts) do if k ~= "p_guess" then popts[k] = v2 end end
  end
  local res = {M.project(a[1], a[2], a[3], popts)}
  local nv = {}
  for i = 1, nd do nv[i] = res[i] end
  local p = res[nd + 1]
  if opts.inflow then s = M.inflow(s, opts.inflow.mask, opts.inflow.value) end
  local ns = M.advect(s, nv[1], nv[2], nv[3], opts)
  return {v = nv, s = ns, p = p}
end

-- steps steps of M.step; opts.frames (a table) collects the smoke after each
-- step, opts.on_step(t, state) is called after each step.
function M.rollout(state, steps, opts)
  check_state("rollout", state)
  int_arg("rollout", "steps", steps, 0, nil, 2)
  opts = check_opts("rollout", opts)
  for t = 1, steps do
    state = M.step(state, opts)
    if opts.frames then opts.frames[#opts.frames + 1] = state.s end
    if opts.on_step then opts.on_step(t, state) end
  end
  return state
end

-- CG counters of this context (each ds context has its own): {fwd_solves, fwd_iters, adj_solves, adj_iters,
-- last_fwd_iters, last_adj_iters, last_relres, unconverged}; reset=true zeroes them.
function M.cg_stats(reset)
  local t = ds.zeros({8})
  ds.no_grad(function() K.cg_stats:launch({stats = t}, {reset = reset and 1 or 0}) end)
  local v = t:tolist()
  return {fwd_solves = v[1], fwd_iters = v[2], adj_solves = v[3], adj_iters = v[4], last_fwd_iters = v[5],
          last_adj_iters = v[6], last_relres = v[7], unconverged = v[8]}
end

-- Mean CG iterations per forward solve and per adjoint solve since the last reset.
function M.cg_iters_per_solve()
  local s = M.cg_stats()
  return s.fwd_iters / math.max(s.fwd_solves, 1), s.adj_iters / math.max(s.adj_solves, 1)
end

-- Fits the initial velocity of a rollout by plain gradient descent so that the
-- smoke after `steps` steps matches `target` (loss mean((s - target)^2)), the
-- reference scenes' optimisation. opts: init, target, steps, sim (step options),
-- lr, iters, v0 (initial velocity list, default zeros), checkpoint (steps per
-- checkpoint segment, 0: none), on_iter(it, loss, state) after every iteration.
-- Returns the velocity list and the list of losses.
function M.fit_velocity(opts)
  if type(opts) ~= "table" or not ds.is_tensor(opts.target) or not ds.is_tensor(opts.init) then
    error("smoke.fit_velocity: expected {init = tensor, target = tensor, steps =, iters =, lr =, ...}", 2)
  end
  ds.check_options("smoke.fit_velocity", opts, {"init", "target", "steps", "sim", "lr", "iters", "v0", "checkpoint",
                                                "on_iter"})
  int_arg("fit_velocity", "steps", opts.steps, 1, nil, 2)
  int_arg("fit_velocity", "iters", opts.iters, 0, nil, 2)
  if opts.checkpoint ~= nil then int_arg("fit_velocity", "checkpoint (steps per segment, 0: none)", opts.checkpoint, 0, nil, 2) end
  local shape = opts.target:shape()
  local v = opts.v0 or {}
  for d = 1, #shape do v[d] = v[d] or ds.zeros(shape) end
  local gd = ds.optim.gd(v, {lr = opts.lr})
  local losses = {}
  local K = opts.checkpoint or 0
  for it = 1, opts.iters do
    gd:zero_grad()
    local tape = ds.tape()
    local final
    local loss = tape:record(function()
      local st = {v = v, s = opts.init}
      local ref = opts.sim and opts.sim.reference
      if K > 0 then
        -- the reference's pressure chain (sim.reference) crosses the segments too
        if ref then st.p, st.p_lag = ds.zeros(shape), ds.zeros(shape) end
        local t = 0
        while t < opts.steps do
          local m = math.min(K, opts.steps - t)
          local res
          if ref then
            res = {tape:checkpoint(function(s, p, pl, ...)
              local r = M.rollout({v = {...}, s = s, p = p, p_lag = pl}, m, opts.sim)
              return r.s, r.p, r.p_lag, unpack(r.v)
            end, st.s, st.p, st.p_lag, unpack(st.v))}
            st = {s = res[1], p = res[2], p_lag = res[3], v = {unpack(res, 4)}}
          else
            res = {tape:checkpoint(function(s, ...)
              local r = M.rollout({v = {...}, s = s}, m, opts.sim)
              return r.s, unpack(r.v)
            end, st.s, unpack(st.v))}
            st = {s = res[1], v = {unpack(res, 2)}}
          end
          t = t + m
        end
        final = st
      else
        final = M.rollout(st, opts.steps, opts.sim)
      end
      return ds.mean(ds.square(final.s - opts.target))
    end)
    tape:backward(loss)
    losses[it] = loss:item()
    if opts.on_iter then opts.on_iter(it, losses[it], final) end
    if losses[it] ~= losses[it] then break end
    gd:step()
  end
  return v, losses
end

-- Initial conditions made in C (no per-cell Lua):
-- checker(shape, period): 1 on the odd squares of a checkerboard of period cells.
function M.checker(shape, period)
  int_arg("checker", "period (cells)", period, 1, nil, 2)
  local t = ds.empty(shape)
  K.checker:launch({out = t}, {period = period})
  return t
end
-- blob(shape, center, radius): a soft ball max(0, 1 - |x - c|^2 / r^2), cell units
-- (0-based centre coordinates).
function M.blob(shape, center, radius)
  local t = ds.empty(shape)
  K.blob:launch({out = t}, {c0 = center[1] or 0, c1 = center[2] or 0, c2 = center[3] or 0, radius = radius})
  return t
end

-- The timing peer's configuration (SCENES.md, smoke_pytorch).
M.peer = {n = 110, steps = 99, iters = 6, lr = 100, opt_iters = 50,
          init = "init_smoke.png", target = "peace.png"}

-- Reads the peer's images: initial smoke = channel 1 of init_smoke.png,
-- target = alpha of peace.png subsampled [::2, ::2]; both {110, 110} in [0, 1].
function M.peer_images()
  local init = ds.io.read_png(ds.io.scene_image("init_smoke.png"), {channel = 1})
  local target = ds.io.read_png(ds.io.scene_image("peace.png"), {channel = "alpha", step = 2})
  return init, target
end

return M
