-- springs benchmark: one line per case, forward ms, backward ms, peak memory.
--   diffsim scripts/bench/springs.lua [--precision f32|f64] [--threads T] [--reps N]
--
-- Cases:
--   robot_d_fused   one optimisation iteration of robot D (26 masses, 61 springs,
--                   682 states, the 32-hidden controller) with springs.nn_rollout:
--                   controller + physics fused, one forward and one adjoint launch.
--   robot_d_steps   the same iteration composed from Lua, per step: springs.nn_input,
--                   the ds.nn.mlp controller (core matmul/add_row/tanh) and springs.step,
--                   every launch on the tape (what a user writing a custom controller gets).
--   cube3d          a 3D lattice with >= 100k springs (every node tied to its 13
--                   forward neighbours), a 20-step rollout under gravity with TOI
--                   ground contact; reports springs x steps per second.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/springs.lua", name = "bench_springs", out = "out/bench",
                                flags = {reps = 20, side = 21, steps3d = 20},
                                checks = {reps = {help = "timed repetitions per case (the best is reported)"},
                                          side = {help = "masses per side of the 3D lattice"},
                                          steps3d = {help = "time steps of the 3D case"}}})
local springs = ds.plugin("springs")
local robots = require("scenes.robots")
local bench = ds.bench

local function line(name, f, b, peak, extra)
  print(string.format("case %s forward_ms %.3f backward_ms %.3f total_ms %.3f peak_mb %.2f%s", name, f, b, f + b, peak,
    extra or ""))
  io.stdout:flush()
end

-- 1. robot D, fused
local sys = springs.system(robots.get(3))
local T = 681
local net = sys:controller{seed = 0}
local params = net:parameters()
local goal = robots.goal
local f, b, peak = bench.time_iter(params, function()
  local xs = sys:nn_rollout(T, net, {goal = goal})
  return springs.select(xs, -1, 1, 1, -1)
end, {reps = opt.reps})
line("robot_d_fused", f, b, peak, string.format(" steps %d masses %d springs %d params %d precision %s threads %d",
  T + 1, sys.n, sys.ns, ds.nn.count(params), ds.precision, ds.threads()))

-- 2. robot D, one launch per op per step from Lua
f, b, peak = bench.time_iter(params, function()
  local x, v = sys.x0, sys.v0
  for t = 0, T - 1 do
    local act = net:forward(sys:nn_input(x, v, t, {goal = goal}))
    x, v = sys:step(x, v, act)
  end
  return springs.select(ds.reshape(x, {1, sys.n, 2}), 1, 1, 1, -1)
end, {reps = math.max(3, math.floor(opt.reps / 4))})
line("robot_d_steps", f, b, peak, " (per-step launches: nn_input + 6 controller ops + step)")

-- 3. a large 3D lattice
local side = opt.side
local xs0, sp = require("scenes.lattice").build(side, 0.02, {0, 0.15, 0})
local cube = springs.system{x = xs0, springs = sp, stiffness = 2e3, spring_damping = 1, mass = 1e-2, dt = 2e-4,
                            damping = 1, gravity = -9.8, ground = {mode = "toi", y = 0.1, friction = 0.5}}
local steps = opt.steps3d
local rest = cube.rest:requires_grad()
local v0 = ds.zeros{cube.n, 3}
v0:fill_(-1)
v0:requires_grad()
f, b, peak = bench.time_iter({rest, v0}, function()
  local xs = cube:rollout(steps, {v0 = v0})
  return ds.sum(xs)
end, {reps = math.max(3, math.floor(opt.reps / 4))})
local rate = cube.ns * steps / ((f + b) / 1e3)
line("cube3d", f, b, peak, string.format(" masses %d springs %d steps %d springs_steps_per_s_fwd %.3g springs_steps_per_s_fwd_bwd %.3g",
  cube.n, cube.ns, steps, cube.ns * steps / (f / 1e3), rate))
