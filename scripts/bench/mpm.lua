-- mpm benchmark: forward and backward ms per substep of the 6400-particle 2D
-- case (diffmpm_benchmark: 80 x 80 particles, grid 120^2, corotated E = 100,
-- dt 3e-4), wall clock and process CPU time, peak memory, and the ratio of the
-- bytes a substep must move to the machine's copy bandwidth.
--   diffsim scripts/bench/mpm.lua [--threads T] [--steps N] [--reps R] [--precision f32|f64]
-- Prints `result mpm2d_6400_step_ms FWD BWD` (wall ms per substep).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/mpm.lua", name = "bench_mpm", out = "out/bench",
                                flags = {reps = 3, steps = 64}})
local mpm = ds.plugin("mpm")
local blocks = require("scenes.mpm_blocks")
local bench = ds.bench

local sim = mpm.sim{grid = 120, dt = 3e-4, mu = 100, lam = 100, gravity = 9.8, wall = "slip", floor = "slip",
                    x = blocks.square(80, 0.5, 1 / 120)}
local n, T = sim.n, opt.steps
local init_v = ds.tensor{0.5, 0.5}:requires_grad()
local target = ds.tensor{0.3, 0.6}
local zeros_v = ds.zeros{n, 2}

local cpu_f, cpu_b = {}, {}
local f, b, peak = bench.time_iter({init_v}, function()
  local c0 = os.clock()
  local sT = sim:rollout(sim:state{v = ds.add_row(zeros_v, init_v)}, T)
  local loss = ds.sum(ds.square(mpm.mean_x(sT.x) - target)) * 0.5
  cpu_f[#cpu_f + 1] = os.clock() - c0
  return loss
end, {reps = opt.reps, after = function() end})
-- CPU time of the backward: one more timed iteration
do
  local tape = ds.tape()
  local loss = tape:record(function()
    local sT = sim:rollout(sim:state{v = ds.add_row(zeros_v, init_v)}, T)
    return ds.sum(ds.square(mpm.mean_x(sT.x) - target)) * 0.5
  end)
  local c0 = os.clock()
  tape:backward(loss)
  cpu_b[1] = os.clock() - c0
end
local fwd, bwd = f / T, b / T
local rb = ds.precision == "f64" and 8 or 4
-- bytes touched per substep (forward): state in + out (12 reals per particle each), the
-- per-particle contributions (27 reals, written and read), the grid (5 reals per node)
local bytes = n * (24 + 54) * rb + 120 * 120 * 5 * rb * 2
local gbps = bench.copy_gbps(2 ^ 24, 5)
print(string.format("case mpm2d_6400 forward_ms_per_step %.3f backward_ms_per_step %.3f total %.3f cpu_fwd_ms_per_step %.3f "
  .. "cpu_bwd_ms_per_step %.3f peak_mb %.2f threads %d precision %s", fwd, bwd, fwd + bwd, 1e3 * bench.median(cpu_f) / T,
  1e3 * cpu_b[1] / T, peak, ds.threads(), ds.precision))
if gbps > 0 then
  print(string.format("case mpm2d_6400_bandwidth bytes_per_step %.0f copy_gbps %.2f bandwidth_bound_ms %.4f ratio %.1f",
    bytes, gbps, bytes / (gbps * 1e9) * 1e3, fwd / (bytes / (gbps * 1e9) * 1e3)))
end
cli.result("mpm2d_6400_step_ms", fwd, bwd)
cli.result("mpm2d_6400_peak_mb", peak)
