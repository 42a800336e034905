-- mpm benchmark: forward and backward ms per substep (wall clock, median of
-- --reps recorded rollouts of --steps substeps, and best_total, the fastest
-- rollout's forward + backward; plus the process CPU time of the forward), peak memory, and the ratio to the bytes a substep must move at the
-- machine's copy bandwidth, for
--   mpm2d_6400    diffmpm_benchmark: 80 x 80 particles, grid 120^2, corotated E = 100, dt 3e-4
--   mpm2d_robot   diffmpm's robot: 2976 particles, grid 128^2, E = 10, 4 actuators, dt 1e-3
--   mpm3d_robot   diffmpm3d's robot: 30,495 particles, grid 64^3, neo-Hookean, 16 actuators, dt 2e-3
-- (2D: every recorded substep keeps its bins and grid for the adjoint, sim:rollout's
-- keep_grid, the default; the 2D cases also as *_recompute, keep_grid = false: the
-- adjoint redoes the binning and the P2G)
-- and with --full3d the peak memory of one full diffmpm3d iteration (511
-- substeps, checkpoint segments of 24: minutes on a shared 2-core machine).
--   diffsim scripts/bench/mpm.lua [--threads T] [--steps N] [--steps3d N] [--reps R] [--full3d [--full3d-steps 511]]
--                                 [--precision f32|f64] [--only all|2d|6400]
-- (--only 2d: the 2D cases only; --only 6400: mpm2d_6400 with keep_grid only, to iterate)
-- Prints `case ...` lines and `result mpm2d_6400_step_ms FWD BWD` (and one
-- result line per case).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/mpm.lua", name = "bench_mpm", out = "out/bench",
                                flags = {reps = 7, steps = 32, steps3d = 4, full3d = false, full3d_steps = 511, only = "all"},
                                checks = {reps = {help = "timed repetitions per case (medians and the best total are reported)"},
                                          steps = {help = "substeps per 2D case"}, steps3d = {help = "substeps per 3D case"},
                                          full3d = {help = "also time one full diffmpm3d iteration (minutes)"},
                                          full3d_steps = {help = "substeps of the --full3d iteration"},
                                          only = {"all", "2d", "6400", help = "the cases: all, 2d (the 2D ones), 6400 (mpm2d_6400 alone)"}}})
local mpm = ds.plugin("mpm")
local blocks = require("scenes.mpm_blocks")
local robot = require("scenes.mpm_robot")
local bench = ds.bench
local rb = ds.precision == "f64" and 8 or 4
local gbps = bench.copy_gbps(2 ^ 24, 5)

-- The hypervisor's steal time over the CPUs, in jiffies (nil off Linux): on a
-- virtual machine whose host is oversubscribed the vCPUs lose whole slices, the
-- wall clock with them, and the 2-thread cases wait at every barrier for the
-- stolen one. A case line's steal_pct says how much of its run was stolen.
local function steal_jiffies()
  local f = io.open("/proc/stat", "r")
  if not f then return nil end
  local line = f:read("*l")
  f:close()
  local v = {}
  for x in (line or ""):gmatch("%d+") do v[#v + 1] = tonumber(x) end
  if #v < 8 then return nil end
  local total = 0
  for i = 1, #v do total = total + v[i] end
  return v[8], total -- steal; all (user .. steal, guest inside user)
end

-- One case: T-substep rollouts recorded and differentiated w.r.t. a {2|3} shared
-- initial velocity and the actuation; `bytes` is what one forward substep must move.
local function run_case(name, sim, T, bytes, keep)
  local d, n = sim.dim, sim.n
  local init_v = ds.zeros{d}:requires_grad()
  local act = ds.full({sim.groups}, 0.3):requires_grad()
  local zeros_v = ds.zeros{n, d}
  -- process CPU time too (all threads): on a loaded shared machine the wall
  -- clock includes waits for a core, the CPU time does not
  local cpu_f, cpu_b, c_end = {}, {}, 0
  local st0, all0 = steal_jiffies()
  local f, b, peak, best = bench.time_iter({init_v, act}, function()
    local c0 = os.clock()
    local sT = sim:rollout(sim:state{v = ds.add_row(zeros_v, init_v)}, T, {act = act, keep_grid = keep})
    local loss = ds.sum(mpm.mean_x(sT.x))
    c_end = os.clock()
    cpu_f[#cpu_f + 1] = c_end - c0
    return loss
  end, {reps = opt.reps, after = function() cpu_b[#cpu_b + 1] = os.clock() - c_end end})
  local fwd, bwd = f / T, b / T
  local st1, all1 = steal_jiffies()
  local steal = st0 and st1 and all1 > all0 and string.format(" steal_pct %.0f", 100 * (st1 - st0) / (all1 - all0)) or ""
  print(string.format("case %s particles %d forward_ms_per_step %.3f backward_ms_per_step %.3f total %.3f "
    .. "best_total %.3f cpu_fwd_ms_per_step %.3f cpu_bwd_ms_per_step %.3f peak_mb %.2f threads %d precision %s%s", name, n, fwd, bwd,
    fwd + bwd, best / T, 1e3 * bench.median(cpu_f) / T, 1e3 * bench.median(cpu_b) / T, peak, ds.threads(), ds.precision, steal))
  if gbps > 0 then
    local bound = bytes / (gbps * 1e9) * 1e3
    print(string.format("case %s_bandwidth bytes_per_step %.0f copy_gbps %.2f bandwidth_bound_ms %.4f ratio %.1f",
      name, bytes, gbps, bound, fwd / bound))
  end
  cli.result(name .. "_step_ms", fwd, bwd)
  cli.result(name .. "_peak_mb", peak)
end

-- bytes per forward substep: the state read and written (2D 12, 3D 24 reals per
-- particle each way), in 2D each particle's 27 adds into the grid (read and
-- written) and its 18 grid velocity reads, in 3D the cell patches (108 reals per
-- occupied cell: written and read; ~27 particles per cell), the grid (m, mv, v:
-- 5 / 7 reals per node, written and read)
local function bytes2(n, cells) return n * (24 + 54 + 18) * rb + cells * 5 * rb * 2 end
local function bytes3(n, cells, occ) return n * 48 * rb + occ * 216 * rb + cells * 7 * rb * 2 end

do
  local sim = mpm.sim{grid = 120, dt = 3e-4, mu = 100, lam = 100, gravity = 9.8, wall = "slip", floor = "slip",
                      x = blocks.square(80, 0.5, 1 / 120)}
  run_case("mpm2d_6400", sim, opt.steps, bytes2(sim.n, 120 * 120))
  -- the same with the adjoint recomputing each substep's grid (less memory)
  if opt.only ~= "6400" then run_case("mpm2d_6400_recompute", sim, opt.steps, bytes2(sim.n, 120 * 120), false) end
end
if opt.only == "all" or opt.only == "2d" then
  local sc = robot.robot2d(1 / 128)
  local sim = mpm.sim{grid = 128, dt = 1e-3, mu = 10, lam = 10, gravity = 3.8, wall = "sticky", floor = "coulomb",
                      friction = 0.5, strength = 4, x = sc.x, group = sc.group, groups = sc.groups}
  run_case("mpm2d_robot", sim, opt.steps, bytes2(sim.n, 128 * 128))
  run_case("mpm2d_robot_recompute", sim, opt.steps, bytes2(sim.n, 128 * 128), false)
end
if opt.only == "all" then
  local sc = robot.robot3d(1 / 64)
  local sim = mpm.sim{grid = 64, dt = 2e-3, mu = 10, lam = 10, gravity = 10, wall = "sticky", floor = "coulomb",
                      friction = 1.5, strength = 5, x = sc.x, group = sc.group, groups = sc.groups,
                      material = "neohookean"}
  -- ~27 particles per occupied cell at density 3 per dx per axis
  run_case("mpm3d_robot", sim, opt.steps3d, bytes3(sim.n, 64 ^ 3, sim.n / 27))
end

if opt.full3d then
  -- one full diffmpm3d iteration: a --full3d-steps rollout recorded with checkpoint
  -- segments of 24 (as scripts/diffmpm3d.lua), its backward, wall time and peak memory
  local sc = robot.robot3d(1 / 64)
  local sim = mpm.sim{grid = 64, dt = 2e-3, mu = 10, lam = 10, gravity = 10, wall = "sticky", floor = "coulomb",
                      friction = 1.5, strength = 5, x = sc.x, group = sc.group, groups = sc.groups,
                      material = "neohookean"}
  local act = ds.full({sim.groups}, 0.3):requires_grad()
  collectgarbage("collect")
  ds.reset_peak_memory()
  local t0 = ds.now()
  local tape = ds.tape()
  local loss = tape:record(function()
    local sT = sim:rollout(sim:state(), opt.full3d_steps, {tape = tape, checkpoint = 24, act = act})
    return -ds.pick(mpm.mean_x(sT.x), 1)
  end)
  tape:backward(loss)
  local secs = ds.now() - t0
  print(string.format("case mpm3d_full_iteration steps %d seconds %.1f peak_mb %.1f threads %d", opt.full3d_steps, secs,
    ds.memory().peak / 2 ^ 20, ds.threads()))
  cli.result("mpm3d_full_iteration_s", secs)
  cli.result("mpm3d_full_iteration_peak_mb", ds.memory().peak / 2 ^ 20)
end
