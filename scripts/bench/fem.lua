-- fem benchmark: one implicit Euler step, forward and backward, per mesh size.
--   diffsim scripts/bench/fem.lua [--precision f64] [--threads T] [--reps N] [--sizes 1000,10000,50000]
--
-- Case: a beam of stable Neo-Hookean tets (6 per hexahedral cell; E = 1e6 Pa,
-- nu = 0.3, 1000 kg/m^3) clamped at x = 0, one implicit Euler step of 1e-2 s
-- from a swinging state (a bending velocity field) under gravity; the loss is
-- a fixed random weighting of the new positions; gradients w.r.t. the start
-- positions, velocities and the per-element Young's modulus. One line per
-- size: forward ms (Newton iterations, factorizations, assembly ms, factor +
-- solve ms), backward ms (one assembly of the true Hessian at the solution,
-- one factorization, one solve, the pullback), their ratio, peak tensor
-- memory and the process's peak resident memory (CHOLMOD's factors included).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/fem.lua", name = "bench_fem", out = "out/bench", precision = "f64",
                                flags = {reps = 3, sizes = "1000,10000,50000"},
                                checks = {reps = {int = true, ge = 1, help = "timed repetitions per case (the median is reported)"},
                                          sizes = {help = "approximate tetrahedron counts, comma-separated"}}})
local fem = ds.plugin("fem")
local bench = ds.bench

local function rss_peak_mb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return (tonumber(s:match("VmHWM:%s*(%d+)")) or 0) / 1024
end

for size in opt.sizes:gmatch("[^,]+") do
  local target = tonumber(size)
  -- a beam of a x b x b cells of 6 tets, a about 4 b, 6 a b^2 as close to the target as can be
  local best
  for b = 1, 64 do
    for a = math.max(1, 3 * b), 5 * b do
      local err = math.abs(6 * a * b * b - target)
      if not best or err < best[1] then best = {err, a, b} end
    end
  end
  local a, b = best[2], best[3]
  local mesh = fem.box_mesh{size = {0.1 * a / b, 0.1, 0.1}, res = {a, b, b}}
  local n, m = mesh.n, mesh.m
  local E = ds.full({m}, 1e6):requires_grad()
  local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = E, nu = 0.3, density = 1000}},
                        pins = fem.select(mesh.verts, function(x) return x < 1e-9 end), dt = 1e-2}
  local X = mesh.verts:totable()
  local vt = {}
  for i = 1, n do vt[i] = {0, -3 * X[i][1] * X[i][1], 0.5 * X[i][1]} end
  local x0, v0 = ds.copy(mesh.verts):requires_grad(), ds.tensor(vt):requires_grad()
  local w = ds.randn({n, 3}, 1)
  local stats = {}
  local f, b, peak = bench.time_iter({x0, v0, E}, function()
    local x1 = body:step(x0, v0)
    stats = fem.stats()
    return ds.dot(x1, w)
  end, {reps = opt.reps})
  print(string.format("case fem_step tets %d vertices %d forward_ms %.1f backward_ms %.1f backward_over_forward %.3f "
    .. "newton_iters %d factorizations %d assemble_ms %.1f factor_solve_ms %.1f peak_mb %.1f rss_peak_mb %.1f "
    .. "precision %s threads %d", m, n, f, b, b / f, stats.iters, stats.factorizations, stats.assemble_ms,
    stats.solve_ms, peak, rss_peak_mb(), ds.precision, ds.threads()))
  io.stdout:flush()
end
