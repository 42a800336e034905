-- smoke benchmark: one line per case, forward ms, backward ms (medians of --reps
-- optimisation iterations after 2 warm-up ones), peak memory of one iteration.
--   diffsim scripts/bench/smoke.lua [--precision f32|f64] [--threads T] [--reps N] [--n3d 64]
--
-- Cases:
--   peer_jacobi   the timing peer's iteration: 110^2, 99 steps, 6 Jacobi sweeps,
--                 loss = mean((smoke_99 - target)^2), forward + backward of (vx, vy).
--                 The peer (PyTorch, CPU, 2 cores) takes ~650 ms per iteration.
--   peer_jacobi_1thread  the same on one thread (parallel scaling).
--   peer_cg       the same scene with the CG projection solved to 1e-5 (warm started
--                 from the previous step's pressure) and its implicit adjoint (one CG
--                 solve per step); reports average CG iterations forward / adjoint.
--   peer_checkpoint  peer_jacobi with every 11 steps checkpointed (memory vs time).
--   plume3d       a 64^3 (--n3d) buoyant plume, 16 steps, 10 Jacobi sweeps, gradient of
--                 mean((smoke - target)^2) w.r.t. the initial velocity and smoke.
--   plume3d_cg    the same with the CG projection (tol 1e-4).
-- Then the machine's bounds for the peer case: measured stream bandwidth and the
-- memory traffic / arithmetic one iteration needs at minimum.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/smoke.lua", name = "bench_smoke", out = "out/bench",
                                flags = {reps = 10, n3d = 64, steps3d = 16, peer_ms = 650},
                                checks = {reps = {help = "timed iterations per case"}, n3d = {help = "3D grid size n^3, in cells"},
                                          steps3d = {help = "steps of the 3D case"},
                                          peer_ms = {help = "the timing peer's iteration time, in ms (for speedup_vs_peer)"}}})
local smoke = ds.plugin("smoke")
-- Times `reps` iterations with ds.bench.time_iter, with a GD step after each so
-- the velocity is not zero after the first.
local function time_iter(params, fwd, reps, lr)
  local function step()
    for _, p in ipairs(params) do p:axpy_(-lr, p.grad) end
  end
  return ds.bench.time_iter(params, fwd, {reps = reps, after = lr and step})
end

local function line(name, f, b, peak, fastest, extra)
  print(string.format("case %s forward_ms %.3f backward_ms %.3f total_ms %.3f min_total_ms %.3f peak_mb %.2f%s", name,
    f, b, f + b, fastest, peak, extra or ""))
  io.stdout:flush()
end

-- ---- the peer scene ---------------------------------------------------------
local init, target = smoke.peer_images()
local P = smoke.peer
local function peer_case(name, sim, checkpoint)
  local vx, vy = ds.zeros{P.n, P.n}:requires_grad(), ds.zeros{P.n, P.n}:requires_grad()
  smoke.cg_stats(true)
  local f, b, peak, fastest = time_iter({vx, vy}, function(tape)
    local st = {v = {vx, vy}, s = init}
    if checkpoint then
      local t = 0
      while t < P.steps do
        local m = math.min(checkpoint, P.steps - t)
        local a, c, s = tape:checkpoint(function(a, c, s)
          local r = smoke.rollout({v = {a, c}, s = s}, m, sim)
          return r.v[1], r.v[2], r.s
        end, st.v[1], st.v[2], st.s)
        st = {v = {a, c}, s = s}
        t = t + m
      end
    else
      st = smoke.rollout(st, P.steps, sim)
    end
    return ds.mean(ds.square(st.s - target))
  end, opt.reps, P.lr)
  local extra = string.format(" speedup_vs_peer %.1f best_speedup %.1f", opt.peer_ms / (f + b), opt.peer_ms / fastest)
  if sim.solver == "cg" then
    extra = extra .. string.format(" cg_iters_fwd %.1f cg_iters_adj %.1f", smoke.cg_iters_per_solve())
  end
  line(name, f, b, peak, fastest, extra)
  return f + b, fastest
end

local threads = ds.threads()
local peer_total, peer_fastest = peer_case("peer_jacobi", {iters = P.iters})
if threads > 1 then
  ds.set_threads(1)
  peer_case("peer_jacobi_1thread", {iters = P.iters})
  ds.set_threads(threads)
end
peer_case("peer_cg", {solver = "cg", tol = 1e-5})
peer_case("peer_checkpoint", {iters = P.iters}, 11)

-- ---- a 3D plume ---------------------------------------------------------------
local n3 = opt.n3d
local shape = {n3, n3, n3}
local function blob(cx, cy, cz, r) return smoke.blob(shape, {cx, cy, cz}, r) end
local s3 = blob(0.75 * n3, n3 / 2, n3 / 2, n3 / 6)
local target3 = blob(0.3 * n3, 0.55 * n3, 0.45 * n3, n3 / 5)
local function plume(name, sim)
  local a = ds.zeros(shape):requires_grad()
  local b = ds.zeros(shape):requires_grad()
  local c = ds.zeros(shape):requires_grad()
  local s0 = s3:detach():requires_grad()
  smoke.cg_stats(true)
  local f, bw, peak, fastest = time_iter({a, b, c, s0}, function()
    local st = smoke.rollout({v = {a, b, c}, s = s0}, opt.steps3d, sim)
    return ds.mean(ds.square(st.s - target3))
  end, math.max(2, math.floor(opt.reps / 3)))
  local extra = string.format(" cells %d steps %d", n3 ^ 3, opt.steps3d)
  if sim.solver == "cg" then
    extra = extra .. string.format(" cg_iters_fwd %.1f cg_iters_adj %.1f", smoke.cg_iters_per_solve())
  end
  line(name, f, bw, peak, fastest, extra)
end
local buoy = {-0.5, 0, 0} -- smoke rises toward i = 0
plume("plume3d", {iters = 10, buoyancy = buoy, dt = 1, bc = "wall"})
plume("plume3d_cg", {solver = "cg", tol = 1e-4, buoyancy = buoy, dt = 1, bc = "wall"})

-- ---- what the machine allows ------------------------------------------------------
-- Copy bandwidth: a 128 MB (f32) / 256 MB (f64) copy into an existing tensor,
-- read + write, through the core's copy (one thread).
local rb = ds.precision == "f64" and 8 or 4
local gbs = ds.bench.copy_gbps(2 ^ 25, 5)
-- Minimum traffic of one peer iteration if every kernel touched each of its
-- arguments exactly once. Per step the fused step kernel reads v (2 fields) and s
-- and writes v' and s' (6 field passes; v1 lives in a cache-sized scratch); its
-- adjoint reads v, s, v' and the output grads and updates the input grads (13),
-- and the core zero-fills the 3 output grads (3): 22 passes. Arithmetic: ~76 flops
-- per cell per step forward, ~150 backward.
local cells, steps = P.n * P.n, P.steps
local bytes = 22 * cells * rb * steps
local flops = 226 * cells * steps
print(string.format("bound copy_bandwidth_gbs %.1f peer_bytes_mb %.1f peer_traffic_bound_ms %.2f peer_gflop %.3f " ..
  "peer_measured_ms %.2f measured_over_traffic_bound %.1f",
  gbs, bytes / 2^20, bytes / (gbs * 1e9) * 1e3, flops / 1e9, peer_total, peer_total / (bytes / (gbs * 1e9) * 1e3)))
cli.result("peer_total_ms", peer_total, peer_fastest)
cli.result("speedup_vs_peer", opt.peer_ms / peer_total)
