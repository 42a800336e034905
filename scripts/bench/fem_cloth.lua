-- fem cloth benchmark: one implicit Euler step of a cloth, forward and backward, per size.
--   diffsim scripts/bench/fem_cloth.lua [--precision f64] [--threads T] [--reps N] [--sizes 10,30,100]
--
-- Case: a 0.5 m square cloth of res x res cells (2 res^2 StVK membrane
-- triangles, about 3 res^2 bending hinges; E = 2e4 Pa, nu = 0.3, 1 mm, 0.2
-- kg/m^2, k_bend = 5e-4 J) pinned at two corners, one implicit Euler step of
-- 1e-2 s from a falling, folded state under gravity; the loss is a fixed random
-- weighting of the new positions; gradients w.r.t. the start positions and
-- velocities, the per-triangle E and the per-hinge k_bend. One line per size:
-- forward ms (Newton iterations, factorizations, assembly ms, factor + solve
-- ms), backward ms, their ratio, peak tensor memory.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/fem_cloth.lua", name = "bench_fem_cloth", out = "out/bench",
                                precision = "f64", flags = {reps = 3, sizes = "10,30,100"},
                                checks = {reps = {int = true, ge = 1, help = "timed repetitions per case (the median is reported)"},
                                          sizes = {help = "cells per side of the cloth, comma-separated"}}})
local fem = ds.plugin("fem")

for size in opt.sizes:gmatch("[^,]+") do
  local N = math.floor(tonumber(size))
  local sheet = fem.cloth_mesh{size = {0.5, 0.5}, res = {N, N}}
  local m = 2 * N * N
  local E = ds.full({m}, 2e4):requires_grad()
  local body = fem.cloth{verts = sheet.verts, tris = sheet.tris, E = E, nu = 0.3, thickness = 1e-3, areal_density = 0.2,
                         k_bend = 5e-4, pins = {sheet.index(0, 0), sheet.index(N, 0)}, dt = 1e-2}
  local h = body.hinges:shape()[1]
  local k = ds.full({h}, 5e-4):requires_grad()
  body:set_param(2, "k_bend", k)
  -- folded and falling: z folds down with a wave across x, every vertex moving
  local X, xt, vt = sheet.verts:totable(), {}, {}
  for i, p in ipairs(X) do
    xt[i] = {p[1], -0.3 * p[3] * p[3] + 0.02 * math.sin(12 * p[1]) * p[3], p[3] * (1 - 0.3 * p[3])}
    vt[i] = {0, -0.5 * p[3], 0.1 * math.sin(7 * p[1])}
  end
  local x0, v0 = ds.tensor(xt):requires_grad(), ds.tensor(vt):requires_grad()
  local w = ds.randn({body.n, 3}, 1)
  local stats = {}
  local f, b, peak = ds.bench.time_iter({x0, v0, E, k}, function()
    local x1 = body:step(x0, v0)
    stats = fem.stats()
    return ds.dot(x1, w)
  end, {reps = opt.reps})
  print(string.format("case fem_cloth_step triangles %d hinges %d vertices %d forward_ms %.1f backward_ms %.1f "
    .. "backward_over_forward %.3f newton_iters %d factorizations %d assemble_ms %.1f factor_solve_ms %.1f peak_mb %.1f "
    .. "precision %s threads %d", m, h, body.n, f, b, b / f, stats.iters, stats.factorizations, stats.assemble_ms,
    stats.solve_ms, peak, ds.precision, ds.threads()))
  io.stdout:flush()
end
