-- Memory of long checkpointed mpm rollouts: recording a T-substep rollout with
-- checkpoint segments of k substeps and differentiating it holds one state per
-- segment plus one segment's states while that segment is recomputed, so the
-- peak tensor memory grows as (T / k + k) states, not as T. Measured through the
-- core's memory statistics (ds.memory: live and peak bytes of tensors and pools).
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local mpm = ds.plugin("mpm")
local blocks = require("scenes.mpm_blocks")

-- 20 x 20 particles of the diffmpm_simple scene, one 2000-substep iteration
local function peak_of(T, seg)
  local sim = mpm.sim{grid = 64, dt = 2e-4, mu = 20, lam = 20, gravity = 9.8, wall = "slip", floor = "slip",
                      x = blocks.square(20, 0.5, 1 / 64, 20, 20)}
  local v0 = ds.tensor{0.3, 0.1}:requires_grad()
  local zeros = ds.zeros{sim.n, 2}
  collectgarbage("collect")
  ds.reset_peak_memory()
  local live0 = ds.memory().live
  local tape = ds.tape()
  local loss = tape:record(function()
    local sT = sim:rollout(sim:state{v = ds.add_row(zeros, v0)}, T, {tape = tape, checkpoint = seg})
    return ds.sum(ds.square(mpm.mean_x(sT.x)))
  end)
  tape:backward(loss)
  local g = v0.grad:totable()
  assert.is_true(g[1] == g[1] and g[1] ~= 0, "a gradient reached v0")
  local peak = ds.memory().peak - live0
  tape = nil
  loss = nil
  collectgarbage("collect")
  return peak, sim.n * 12 * 8 -- bytes of one state (x, v, C, F: 12 reals per particle)
end

describe("mpm checkpointed rollout memory", function()
  it("a 2000-substep rollout stays within the (T / k + k) states bound", function()
    local T, k = 2000, 50
    local peak, state = peak_of(T, k)
    local states = peak / state
    -- stored: T / k = 40 segment inputs + up to k = 50 recomputed states; each
    -- substep's outputs are 4 tensors (one state) and its backward makes as many
    -- gradients, and the tensor collector may let garbage reach about as much again
    -- as what is reachable (lua/diffsim/tensor.lua): allow 3 (T / k + k) states + 256 KB
    local bound = 3 * (T / k + k) * state + 262144
    print(string.format("# mpm memory: T %d k %d peak %.0f KB = %.1f states (bound %.0f KB, full history %.0f KB)",
      T, k, peak / 1024, states, bound / 1024, T * state / 1024))
    assert.is_true(peak < bound, string.format("peak %.0f bytes over the bound %.0f", peak, bound))
    assert.is_true(peak < 0.2 * T * state, "far below a per-step history")
  end)

  it("the peak grows with the segment count, not the step count", function()
    -- T = 500 and 2000 with k = 50: 60 vs 90 states in the bound; a per-step history
    -- would grow 4x. The longer run may hold at most the 30 extra segment states more.
    local p500, state = peak_of(500, 50)
    local p2000 = peak_of(2000, 50)
    print(string.format("# mpm memory: peak T=500 %.0f KB, T=2000 %.0f KB (state %.1f KB)", p500 / 1024, p2000 / 1024,
      state / 1024))
    assert.is_true(p2000 - p500 < 2 * 30 * state + 65536, "extra " .. (p2000 - p500) .. " bytes")
    assert.is_true(p2000 < 1.6 * p500)
  end)
end)
