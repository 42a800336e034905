-- smoke: the reference's (DiffTaichi smoke_taichi.py) pressure chain, the
-- --reference mode of scripts/smoke_taichi.lua. In the reference, step t's
-- Jacobi sweeps p[10t+1..10t+10] start from p[10t], the last sweep of step t-1
-- (p[10] = 0 at step 1), and update_v(t) subtracts the gradient of p[10t-1],
-- sweep 9 of step t-1 (p[9] = 0: step 1 is not corrected). The pressure buffers
-- are part of the differentiated program, so the gradient flows through them.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local smoke = ds.plugin("smoke")

local function maxdiff(a, b)
  local x, y, m = a:tolist(), b:tolist(), 0
  for i = 1, #x do m = math.max(m, math.abs(x[i] - y[i])) end
  return m
end

local NX, NY = 9, 8
local S3 = {6, 5, 4}

describe("smoke.jacobi (warm-started Jacobi sweeps)", function()
  for _, K in ipairs{1, 2, 5} do
    for _, shape in ipairs{{NX, NY}, S3} do
      local tag = #shape .. "D, " .. K .. " sweeps"
      it("adjoint matches central differences in f64, " .. tag, function()
        local ok, rep = ds.gradcheck_kernel("smoke.jacobi",
          {div = ds.randn(shape, 1), p0 = ds.randn(shape, 2), p_prev = ds.zeros(shape), p = ds.zeros(shape)},
          {bc = 0, iters = K}, {max_elems = 400, rtol = 1e-6, atol = 1e-8, eps = 1e-6})
        assert(ok, tostring(rep.message))
        assert.is_true(rep.checked > 0)
      end)
    end
  end

  it("from p0 = 0 it gives the default projection's pressure, sweep for sweep", function()
    local vx, vy = ds.randn({NX, NY}, 3), ds.randn({NX, NY}, 4)
    local div = smoke.divergence(vx, vy)
    local z = ds.zeros{NX, NY}
    for _, K in ipairs{1, 3, 10} do
      local prev, p = smoke.jacobi(div, z, {iters = K})
      local _, _, pref = smoke.project(vx, vy, {iters = K})
      assert.is_true(maxdiff(p, pref) < 1e-14, "sweep " .. K)
      if K > 1 then
        local _, _, pm = smoke.project(vx, vy, {iters = K - 1})
        assert.is_true(maxdiff(prev, pm) < 1e-14, "sweep " .. K - 1)
      else
        assert.is_true(maxdiff(prev, z) == 0)
      end
    end
  end)

  it("continuing a chain equals running it in one go", function()
    local div, p0 = ds.randn({NX, NY}, 5), ds.randn({NX, NY}, 6)
    local _, a = smoke.jacobi(div, p0, {iters = 4})
    local _, b = smoke.jacobi(div, a, {iters = 3})
    local _, c = smoke.jacobi(div, p0, {iters = 7})
    assert.is_true(maxdiff(b, c) < 1e-14)
  end)

  it("refuses walls, bad sweep counts and mismatched shapes by name", function()
    local div, p0 = ds.zeros{NX, NY}, ds.zeros{NX, NY}
    local ok, err = pcall(smoke.jacobi, div, p0, {bc = "wall"})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("smoke.jacobi", 1, true) and tostring(err):find("bc", 1, true), err)
    for _, bad in ipairs{0, -1, 2.5} do
      ok, err = pcall(smoke.jacobi, div, p0, {iters = bad})
      assert.is_false(ok)
      assert.truthy(tostring(err):find("smoke.jacobi: iters", 1, true), err)
    end
    ok, err = pcall(smoke.jacobi, div, ds.zeros{NX, NY + 1})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("p0", 1, true), err)
  end)
end)

describe("smoke.step with reference = true", function()
  it("step 1 is not corrected: the velocity is the self-advected one", function()
    local vx, vy = ds.randn({NX, NY}, 7, 0.7), ds.randn({NX, NY}, 8, 0.7)
    local st = smoke.step({v = {vx, vy}, s = ds.randn({NX, NY}, 9)}, {reference = true, iters = 3})
    local ax, ay = smoke.advect_velocity(vx, vy)
    assert.is_true(maxdiff(st.v[1], ax) == 0 and maxdiff(st.v[2], ay) == 0)
  end)

  it("step 2 is corrected with sweep K-1 of step 1, and step 2's sweeps continue step 1's", function()
    local K = 4
    local v = {ds.randn({NX, NY}, 10, 0.7), ds.randn({NX, NY}, 11, 0.7)}
    local s = ds.randn({NX, NY}, 12)
    local st1 = smoke.step({v = v, s = s}, {reference = true, iters = K})
    local st2 = smoke.step(st1, {reference = true, iters = K})
    -- by hand
    local a1 = {smoke.advect_velocity(v[1], v[2])}
    local p9, p10 = smoke.jacobi(smoke.divergence(a1[1], a1[2]), ds.zeros{NX, NY}, {iters = K})
    local a2 = {smoke.advect_velocity(a1[1], a1[2])}
    local vx2, vy2 = smoke.gradsub(a2[1], a2[2], p9)
    local _, p20 = smoke.jacobi(smoke.divergence(a2[1], a2[2]), p10, {iters = K})
    assert.is_true(maxdiff(st2.v[1], vx2) == 0 and maxdiff(st2.v[2], vy2) == 0)
    assert.is_true(maxdiff(st2.p, p20) == 0)
  end)

  it("a 4-step reference rollout's gradient matches central differences in f64 (v0 and smoke)", function()
    local v0 = {ds.randn({NX, NY}, 13, 0.6), ds.randn({NX, NY}, 14, 0.6)}
    local s0 = ds.randn({NX, NY}, 15)
    local w = ds.randn({NX, NY}, 16)
    local ok, rep = ds.gradcheck(function(vx, vy, s)
      local st = smoke.rollout({v = {vx, vy}, s = s}, 4, {reference = true, iters = 3})
      return ds.sum(st.s * w) + ds.sum(st.v[1] * w) + 0.5 * ds.sum(st.v[2] * st.v[2])
    end, {v0[1], v0[2], s0}, {eps = 1e-6, rtol = 1e-5, atol = 1e-7})
    assert(ok, rep and rep.message)
  end)

  it("refuses the CG solver by name", function()
    local v = {ds.zeros{NX, NY}, ds.zeros{NX, NY}}
    local ok, err = pcall(smoke.step, {v = v, s = ds.zeros{NX, NY}}, {reference = true, solver = "cg"})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("smoke.step", 1, true), err)
  end)
end)

describe("smoke_taichi scene, float64 losses (128^2, 99 steps, 10 sweeps, lr 400)", function()
  local function losses(reference, iters, checkpoint)
    local n = 128
    local init = smoke.checker({n, n}, 16)
    local target = ds.io.read_png(ds.io.scene_image("taichi.png"), {channel = 3, size = {n, n}})
    local _, l = smoke.fit_velocity{init = init, target = target, steps = 99, lr = 400, iters = iters,
      checkpoint = checkpoint, sim = {iters = 10, solver = "jacobi", reference = reference}}
    return l
  end

  it("--reference reproduces the reference: 0.498636 then 0.322159 (the default mode gives 0.343920)", function()
    local ref = losses(true, 3)
    assert.is_true(math.abs(ref[1] - 0.498636239) < 1e-8, "iter 1 " .. ref[1])
    assert.is_true(math.abs(ref[2] - 0.322158566) < 1e-8, "iter 2 " .. ref[2])
    assert.is_true(math.abs(ref[3] - 0.227145069) < 1e-8, "iter 3 " .. ref[3])
    local def = losses(nil, 2)
    assert.is_true(math.abs(def[1] - 0.498636239) < 1e-8, "default iter 1 " .. def[1])
    assert.is_true(math.abs(def[2] - 0.343919543) < 1e-8, "default iter 2 " .. def[2])
  end)

  it("checkpointed segments carry the reference's pressure chain (same losses)", function()
    local a, b = losses(true, 2), losses(true, 2, 25)
    assert.is_true(math.abs(a[2] - b[2]) < 1e-12, a[2] .. " vs " .. b[2])
  end)
end)
