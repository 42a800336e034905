-- springs plugin: physics (energy, momentum, symmetry, determinism) and
-- optimisation (mass_spring_simple, robot B) checks.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local springs = ds.plugin("springs")
local robots = require("scenes.robots")

local function col_sums(t, n, D, mass)
  local l, s = t:tolist(), {}
  for d = 1, D do s[d] = 0 end
  for i = 1, n do
    for d = 1, D do s[d] = s[d] + mass[i] * l[(i - 1) * D + d] end
  end
  return s
end

describe("springs physics", function()
  it("an undamped system without contact keeps its energy bounded over 10,000 steps", function()
    local scene = robots.get(0)
    scene.damping, scene.ground = 0, "none"
    -- no gravity either: in free fall semi-implicit Euler's position lags by g dt t / 2,
    -- a drift of the discretisation that would hide what this test is about (the springs)
    scene.dt, scene.stiffness, scene.gravity = 1e-3, 1000, 0
    local sys = springs.system(scene)
    -- start stretched and spinning
    local x0 = sys.x0 * 1.1
    local v0 = ds.randn({sys.n, 2}, 4, 0.5)
    local T = 10000
    local xs, vs = sys:rollout(T, {x0 = x0, v0 = v0})
    local e0
    local lo, hi = math.huge, -math.huge
    local first, last = 0, 0
    for t = 1, T + 1, 10 do
      local ke, pe, ge = sys:energy(springs.row(xs, t), springs.row(vs, t))
      local e = ke + pe + ge
      e0 = e0 or e
      lo, hi = math.min(lo, e), math.max(hi, e)
      if t <= 1000 then first = first + e end
      if t > T - 999 then last = last + e end
    end
    -- symplectic Euler: the energy oscillates by O(dt) but does not drift
    assert.is_true((hi - lo) / e0 < 0.1, string.format("energy range %.3g of %.3g", hi - lo, e0))
    assert.is_true(math.abs(last - first) / math.abs(first) < 0.005,
      string.format("mean energy drifted from %.6g to %.6g", first / 100, last / 100))
  end)

  it("without gravity and contact, total momentum is conserved to round-off", function()
    local sys = springs.system{
      x = {{0, 0}, {0.1, 0}, {0.05, 0.09}, {0.15, 0.1}, {0.2, 0.02}},
      springs = {{1, 2}, {2, 3}, {3, 1}, {2, 4}, {3, 4}, {4, 5}, {2, 5}},
      stiffness = {500, 800, 300, 1000, 600, 700, 400}, amplitude = 0.2, spring_damping = 2,
      mass = {1, 2, 0.5, 1.5, 3}, dt = 1e-3, damping = 0, gravity = 0, ground = "none",
    }
    local mass = {1, 2, 0.5, 1.5, 3}
    local T = 2000
    local v0 = ds.randn({sys.n, 2}, 11, 1)
    local act = ds.randn({T, sys.ns}, 12, 0.8) -- actuation is internal: it must not create momentum
    local _, vs = sys:rollout(T, {v0 = v0, act = act})
    local p0 = col_sums(springs.row(vs, 1), sys.n, 2, mass)
    local p1 = col_sums(springs.row(vs, T + 1), sys.n, 2, mass)
    for d = 1, 2 do assert.is_true(math.abs(p1[d] - p0[d]) < 1e-12, "momentum drift " .. (p1[d] - p0[d])) end
  end)

  it("a mirror-symmetric robot stays symmetric and a resting one stays on the ground", function()
    local sys = springs.system{
      x = {{0.4, 0.1}, {0.6, 0.1}, {0.4, 0.3}, {0.6, 0.3}, {0.5, 0.4}},
      springs = {{1, 2}, {1, 3}, {2, 4}, {3, 4}, {1, 4}, {2, 3}, {3, 5}, {4, 5}},
      stiffness = 1000, dt = 2e-3, damping = 5, gravity = -9.8, ground = {mode = "toi", y = 0.1, friction = 0.5},
    }
    local T = 500
    local xs = sys:rollout(T)
    local x = springs.row(xs, T + 1):tolist()
    -- mirror about x = 0.5: masses 1<->2, 3<->4, 5 on the axis
    assert.is_true(math.abs((x[1] - 0.5) + (x[3] - 0.5)) < 1e-12)
    assert.is_true(math.abs(x[2] - x[4]) < 1e-12)
    assert.is_true(math.abs(x[9] - 0.5) < 1e-12)
    -- the feet never go through the ground and end resting on it
    assert.is_true(math.abs(x[2] - 0.1) < 1e-9)
    local all = xs:tolist()
    for i = 2, #all, 2 do assert.is_true(all[i] >= 0.1 - 1e-12) end
  end)

  it("results and gradients are bitwise identical across runs and thread counts", function()
    local side = 12
    local xs0, sp = {}, {}
    local function id(i, j, k) return (i * side + j) * side + k + 1 end
    for i = 0, side - 1 do for j = 0, side - 1 do for k = 0, side - 1 do
      xs0[#xs0 + 1] = {i * 0.02, 0.12 + j * 0.02, k * 0.02}
    end end end
    for i = 0, side - 1 do for j = 0, side - 1 do for k = 0, side - 1 do
      if i + 1 < side then sp[#sp + 1] = {id(i, j, k), id(i + 1, j, k)} end
      if j + 1 < side then sp[#sp + 1] = {id(i, j, k), id(i, j + 1, k)} end
      if k + 1 < side then sp[#sp + 1] = {id(i, j, k), id(i, j, k + 1)} end
      if i + 1 < side and j + 1 < side then sp[#sp + 1] = {id(i, j, k), id(i + 1, j + 1, k)} end
    end end end
    local cube = springs.system{x = xs0, springs = sp, stiffness = 500, mass = 1e-2, dt = 5e-4, damping = 1,
                                gravity = -9.8, ground = {mode = "toi", y = 0.1, friction = 0.3}}
    assert.is_true(cube.ns > 4096) -- several parallel blocks
    local function run(threads)
      ds.set_threads(threads)
      cube.rest:requires_grad():zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function() return ds.sum(ds.square((cube:rollout(40)))) end)
      tape:backward(loss)
      return loss:item(), cube.rest.grad:tolist()
    end
    local l1, g1 = run(1)
    local l2, g2 = run(2)
    local l3, g3 = run(2)
    ds.set_threads(2)
    assert.are.equal(l1, l2)
    assert.are.equal(l2, l3)
    for i = 1, #g1, 97 do
      assert.are.equal(g1[i], g2[i])
      assert.are.equal(g2[i], g3[i])
    end
  end)
end)

-- Runs a script with the launcher's environment (ctest sets the paths) and
-- returns its `iter` losses and `result` lines.
local function run_script(cmdline)
  local p = io.popen("luajit " .. cmdline .. " 2>&1")
  local out = p:read("*a")
  local ok = p:close()
  local losses, results = {}, {}
  for l in out:gmatch("iter %d+ loss (%S+)") do losses[#losses + 1] = tonumber(l) end
  for name, rest in out:gmatch("result (%S+) ([^\n]*)") do results[name] = rest end
  return ok, losses, results, out
end

describe("springs optimisation", function()
  local root = os.getenv("DIFFSIM_ROOT") or "."
  it("mass_spring_simple --reference reaches a loss below 1e-4 in its 25 iterations", function()
    local ok, losses, results, out = run_script(root .. "/scripts/mass_spring_simple.lua --reference --out /tmp/ds_springs_test_simple")
    assert(ok, out)
    assert.are.equal(25, #losses)
    assert.is_true(losses[25] < 1e-4, out)
    assert.is_true(tonumber(results.loss_final) < 1e-4, out)
    assert.is_true(losses[25] < losses[1] * 1e-2)
  end)

  it("cage: L-BFGS steers the centre particle in a handful of iterations", function()
    local ok, losses, results, out = run_script(root .. "/scripts/cage.lua --n 3 --iters 6 --out /tmp/ds_springs_test_cage")
    assert(ok, out)
    local initial = tonumber(results.loss_initial)
    assert.is_true(initial > 1e-4, out)
    assert.is_true(losses[#losses] < initial * 1e-6, out)
  end)

  it("toi.lua and gradient_explosion.lua report the known answers", function()
    local ok, _, results, out = run_script(root .. "/scripts/toi.lua --scan 3 --out /tmp/ds_springs_test_toi")
    assert(ok, out)
    assert.is_true(math.abs(tonumber(results.dy_final_dy0_toi) + 1) < 1e-9, out)
    assert.is_true(math.abs(tonumber(results.dy_final_dy0_naive) - 1) < 1e-9, out)
    ok, _, results, out = run_script(root .. "/scripts/gradient_explosion.lua --steps 1000 --out /tmp/ds_springs_test_ge")
    assert(ok, out)
    assert.is_true(math.abs(tonumber(results.dx_da_s_t1000_alpha0) - 500.5) < 1e-9, out) -- dt T (T + 1) / 2
    assert.is_true(tonumber(results.dx_da_s_t1000_alpha100) < 11, out)                   -- about T / alpha
  end)

  it("robot B's loss falls within 10 iterations", function()
    local ok, losses, results, out = run_script(root .. "/scripts/mass_spring.lua --robot 1 --iters 10 --no-gif --out /tmp/ds_springs_test_b")
    assert(ok, out)
    assert.are.equal(10, #losses)
    local best = math.huge
    for i = 2, 10 do best = math.min(best, losses[i]) end
    assert.is_true(best < losses[1] - 0.02, out) -- the head moves at least 2 cm further right
    assert.is_true(tonumber(results.loss_final) < losses[1], out)
  end)
end)
