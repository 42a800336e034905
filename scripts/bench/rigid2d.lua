-- rigid2d benchmark: one line per case, forward ms, backward ms, peak memory.
--   diffsim scripts/bench/rigid2d.lua [--precision f32|f64] [--threads T] [--reps N]
-- Cases:
--   billiards            one optimisation iteration of the reference scene (11 discs,
--                        1023 steps, broad phase): rollout + loss, then the adjoint
--   billiards_reference  the same with the O(n^2) pair loop
--   discs_400            400 discs, 500 steps, broad phase (how the broad phase scales)
--   box_chain_1000       a 5-box chain with springs on the ground, 1000 steps, gradient
--                        in every spring's rest length (the robots' physics without
--                        the controller)
--   robot_A/B/Leg        one training iteration of each reference robot (2047 steps,
--                        rigid2d.box_nn_rollout: network controller + physics)
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/rigid2d.lua", name = "bench_rigid2d", out = "out/bench",
                                flags = {reps = 10}, checks = {reps = {int = true, ge = 1, le = 1e6,
                                                   help = "timed repetitions per case (the best is reported)"}}})
local rigid2d = ds.plugin("rigid2d")
local scene = require("scenes.billiards")
local bench = ds.bench

local function line(name, f, b, peak, extra)
  print(string.format("case %s forward_ms %.3f backward_ms %.3f total_ms %.3f peak_mb %.2f%s", name, f, b, f + b, peak,
    extra or ""))
  io.stdout:flush()
end

for _, ref in ipairs{false, true} do
  local sys = rigid2d.discs(scene.discs{reference = ref})
  local v0 = sys.v0:detach():requires_grad()
  local f, b, peak = bench.time_iter({v0}, function()
    local xs = sys:rollout(1023, {v0 = v0})
    return ds.square(rigid2d.select(xs, -1, sys.n, 1) - 0.9) + ds.square(rigid2d.select(xs, -1, sys.n, 2) - 0.75)
  end, {reps = opt.reps})
  line(ref and "billiards_reference" or "billiards", f, b, peak,
    string.format(" discs %d steps 1023 precision %s threads %d", sys.n, ds.precision, ds.threads()))
end

do
  local x, v = {}, {}
  for i = 0, 19 do
    for j = 0, 19 do
      x[#x + 1] = {0.05 + 0.045 * i, 0.05 + 0.045 * j}
      v[#v + 1] = {math.sin(7 * #x), math.cos(3 * #x)}
    end
  end
  local sys = rigid2d.discs{x = x, v = v, radius = 0.02, restitution = 0.9, dt = 1e-3}
  local v0 = sys.v0:detach():requires_grad()
  local f, b, peak = bench.time_iter({v0}, function() return rigid2d.select(sys:rollout(500, {v0 = v0}), -1, 1, 1) end,
    {reps = math.max(1, math.floor(opt.reps / 2))})
  line("discs_400", f, b, peak, " discs 400 steps 500")
end

do
  local bodies, springs = {}, {}
  for i = 1, 5 do
    bodies[i] = {x = {0.2 + 0.1 * i, 0.13}, halfsize = {0.04, 0.03}}
    if i > 1 then springs[#springs + 1] = {i - 1, i, {0.04, 0}, {-0.04, 0}, rest = 0.02, k = 50, amp = 0.05} end
  end
  local sys = rigid2d.boxes{bodies = bodies, springs = springs, gravity = -9.8, damping = 10, friction = 1,
                            restitution = 0, dt = 1e-3}
  sys.rest = sys.rest:detach():requires_grad()
  local acts = ds.randn({1000, sys.ns}, 1, 0.5)
  local f, b, peak = bench.time_iter({sys.rest}, function()
    return rigid2d.select(sys:rollout(1000, {acts = acts}), -1, 1, 1)
  end, {reps = math.max(1, math.floor(opt.reps / 2))})
  line("box_chain_1000", f, b, peak, " bodies 5 springs 4 steps 1000")
end

-- The reference robots: one training iteration (2047 steps, network controller
-- fused in the rollout), forward and backward, TOI contact.
do
  local robots = require("scenes.rigid_robots")
  for r = 0, 2 do
    local scene = robots.get(r, {toi = true})
    local sys = rigid2d.boxes(scene)
    local net = sys:controller{hidden = 32, seed = 0}
    local params = net:parameters()
    local f, b, peak = bench.time_iter(params, function()
      local states = sys:nn_rollout(2047, net, {goal = robots.goal})
      local dx = rigid2d.select(states, -1, sys.head, 1) - robots.goal[1]
      local dy = rigid2d.select(states, -1, sys.head, 2) - robots.goal[2]
      return ds.sqrt(ds.square(dx) + ds.square(dy))
    end, {reps = math.max(1, math.floor(opt.reps / 2))})
    line("robot_" .. scene.name, f, b, peak, string.format(" bodies %d springs %d steps 2047", sys.n, sys.ns))
  end
end
