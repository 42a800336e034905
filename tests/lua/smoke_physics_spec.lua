-- Physics of the smoke plugin (f64): what projection, advection and a full step
-- must do, gradient checks of whole 5-step rollouts with each solver, and the
-- implicit-adjoint CG gradient against back-propagation through the unrolled,
-- tightly converged CG iterations.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local smoke = ds.plugin("smoke")

local function maxabs(t) local lo, hi = ds.io.range(t); return math.max(math.abs(lo), math.abs(hi)) end
local function norm(t) return ds.norm(t):item() end

-- A smooth periodic velocity field with divergence (sin/cos modes).
local function smooth(nx, ny, seed)
  local a, b = {}, {}
  math.randomseed(seed)
  local k1, k2, ph = 1 + math.random(2), 1 + math.random(2), math.random() * 6
  for i = 1, nx do
    a[i], b[i] = {}, {}
    for j = 1, ny do
      local x, y = 2 * math.pi * (i - 1) / nx, 2 * math.pi * (j - 1) / ny
      a[i][j] = math.sin(k1 * x + ph) * math.cos(y) + 0.3 * math.cos(k2 * y)
      b[i][j] = math.cos(k2 * x) * math.sin(k1 * y + ph) + 0.2
    end
  end
  return ds.tensor(a), ds.tensor(b)
end

describe("smoke physics", function()
  for _, bc in ipairs{"periodic", "wall"} do
    it("after a CG projection the divergence is below the solver tolerance (" .. bc .. ", 2D and 3D)", function()
      local vx, vy = ds.randn({40, 30}, 1), ds.randn({40, 30}, 2)
      local tol = 1e-8
      local before = norm(smoke.divergence(vx, vy, {bc = bc}))
      local px, py = smoke.project(vx, vy, {solver = "cg", tol = tol, bc = bc})
      local after = norm(smoke.divergence(px, py, {bc = bc}))
      assert.is_true(before > 0.1)
      assert.is_true(after <= tol * before * 1.01, string.format("|div| %.3g -> %.3g", before, after))
      local s3 = {12, 10, 14}
      local a, b, c = ds.randn(s3, 3), ds.randn(s3, 4), ds.randn(s3, 5)
      local b3 = norm(smoke.divergence(a, b, c, {bc = bc}))
      local x3, y3, z3 = smoke.project(a, b, c, {solver = "cg", tol = tol, bc = bc})
      local a3 = norm(smoke.divergence(x3, y3, z3, {bc = bc}))
      assert.is_true(a3 <= tol * b3 * 1.01, string.format("3D |div| %.3g -> %.3g", b3, a3))
    end)
    it("the CG projection is idempotent and leaves a divergence-free field alone (" .. bc .. ")", function()
      local vx, vy = ds.randn({24, 20}, 6), ds.randn({24, 20}, 7)
      local px, py = smoke.project(vx, vy, {solver = "cg", tol = 1e-12, bc = bc})
      local qx, qy = smoke.project(px, py, {solver = "cg", tol = 1e-12, bc = bc})
      assert.is_true(maxabs(qx - px) < 1e-9 and maxabs(qy - py) < 1e-9)
      -- and it is an orthogonal projection: the removed part is orthogonal to the result
      local rx, ry = vx - px, vy - py
      local dot = ds.dot(rx, px):item() + ds.dot(ry, py):item()
      assert.is_true(math.abs(dot) < 1e-8 * norm(vx) * norm(vx), "not orthogonal: " .. dot)
    end)
    it("Jacobi sweeps reduce the divergence of a smooth field, more sweeps more (" .. bc .. ")", function()
      local vx, vy = smooth(48, 40, 3)
      local d0 = norm(smoke.divergence(vx, vy, {bc = bc}))
      local last = d0
      for _, K in ipairs{6, 20, 80} do
        local px, py = smoke.project(vx, vy, {iters = K, bc = bc})
        local d = norm(smoke.divergence(px, py, {bc = bc}))
        assert.is_true(d < last, string.format("%d sweeps: |div| %.4g, before %.4g", K, d, last))
        last = d
      end
      assert.is_true(last < 0.5 * d0)
    end)
    it("advecting a constant field leaves it unchanged (" .. bc .. ", 2D and 3D)", function()
      local f = ds.full({20, 17}, 0.37)
      local out = smoke.advect(f, ds.randn({20, 17}, 1, 4), ds.randn({20, 17}, 2, 4), {bc = bc})
      assert.is_true(maxabs(out - 0.37) < 1e-14)
      local vx, vy = smoke.advect_velocity(ds.full({20, 17}, 0.8), ds.full({20, 17}, -1.3), {bc = bc})
      if bc == "periodic" then -- walls clamp the sample, which still reads the constant
        assert.is_true(maxabs(vx - 0.8) < 1e-14 and maxabs(vy + 1.3) < 1e-14)
      end
      local f3 = ds.full({6, 7, 8}, -2.5)
      local o3 = smoke.advect(f3, ds.randn({6, 7, 8}, 3, 3), ds.randn({6, 7, 8}, 4, 3), ds.randn({6, 7, 8}, 5, 3), {bc = bc})
      assert.is_true(maxabs(o3 + 2.5) < 1e-14)
    end)
    it("a field with no velocity stays put, exactly, through whole steps (" .. bc .. ")", function()
      local s = ds.rand({30, 26}, 9)
      local z = ds.zeros{30, 26}
      assert.are.same(s:tolist(), smoke.advect(s, z, z, {bc = bc}):tolist())
      for _, solver in ipairs{"jacobi", "cg"} do
        local st = smoke.rollout({v = {z, z}, s = s}, 5, {solver = solver, bc = bc})
        assert.are.same(s:tolist(), st.s:tolist())
        assert.are.equal(0, maxabs(st.v[1]) + maxabs(st.v[2]))
      end
      local s3 = ds.rand({5, 6, 7}, 10)
      local z3 = ds.zeros{5, 6, 7}
      local st3 = smoke.rollout({v = {z3, z3, z3}, s = s3}, 3, {bc = bc})
      assert.are.same(s3:tolist(), st3.s:tolist())
    end)
  end
  it("walls: no flow through them after a projection, and long rollouts stay bounded", function()
    for _, shape in ipairs{{40, 36}, {16, 14, 12}} do
      local v = {}
      for d = 1, #shape do v[d] = ds.randn(shape, d, 3) end
      for _, solver in ipairs{"jacobi", "cg"} do
        local p = {smoke.project(v[1], v[2], v[3], {bc = "wall", solver = solver, iters = 10})}
        -- the normal component on the wall cells: first and last index along its axis
        local t = p[1]:totable()
        local first, last = t[1], t[#t]
        for _, row in ipairs{first, last} do
          local flat = type(row[1]) == "table" and row[1] or row
          for _, x in ipairs(flat) do assert.are.equal(0, x) end
        end
        local st = {v = v, s = ds.rand(shape, 9)}
        for _ = 1, 40 do st = ds.no_grad(smoke.step, st, {bc = "wall", solver = solver, iters = 10}) end
        for d = 1, #shape do
          assert.is_true(maxabs(st.v[d]) < 3, string.format("%dD %s: |v| grew to %g", #shape, solver, maxabs(st.v[d])))
        end
      end
    end
  end)
  it("the fused step kernel gives bitwise the numbers and gradients of the three kernels", function()
    for _, case in ipairs{{{64, 72}, "periodic"}, {{40, 36}, "wall"}, {{10, 12, 8}, "wall"}} do
      local shape, bc = case[1], case[2]
      local function run(fused)
        local v = {}
        for d = 1, #shape do v[d] = ds.randn(shape, d, 2):requires_grad() end
        local s = ds.rand(shape, 9):requires_grad()
        local tape = ds.tape()
        local fin
        local loss = tape:record(function()
          fin = smoke.rollout({v = v, s = s}, 4, {fused = fused, bc = bc})
          return ds.sum(ds.square(fin.s)) + ds.dot(fin.v[1], fin.v[2])
        end)
        tape:backward(loss)
        local out = {fin.s:tolist(), s.grad:tolist()}
        for d = 1, #shape do out[#out + 1] = v[d].grad:tolist() end
        return out
      end
      assert.are.same(run(false), run(true))
    end
  end)
  it("a uniform velocity of whole cells translates the smoke exactly (periodic)", function()
    local s = ds.rand({16, 12}, 4)
    local out = smoke.advect(s, ds.full({16, 12}, 2), ds.full({16, 12}, -3))
    local a, b = s:totable(), out:totable()
    for i = 1, 16 do
      for j = 1, 12 do
        assert.are.equal(a[(i - 1 - 2) % 16 + 1][(j - 1 + 3) % 12 + 1], b[i][j])
      end
    end
  end)
  it("advection conserves the total of a periodic field under a divergence-free shift", function()
    local s = ds.rand({20, 20}, 5)
    local out = smoke.advect(s, ds.full({20, 20}, 0.3), ds.full({20, 20}, 0.45))
    assert.is_true(math.abs(ds.sum(out):item() - ds.sum(s):item()) < 1e-10)
  end)
  it("buoyancy lifts smoke: force adds dt * b * s to the velocity", function()
    local s = ds.rand({8, 8}, 1)
    local v = smoke.force({ds.zeros{8, 8}, ds.zeros{8, 8}}, s, nil, {dt = 0.5, buoyancy = {-2, 0}})
    assert.is_true(maxabs(v[1] + s) < 1e-15 and maxabs(v[2]) == 0)
  end)
end)

describe("smoke gradients of whole rollouts (f64, central differences)", function()
  local n = {12, 10}
  local function scene(solver, bc)
    local target = ds.rand(n, 7)
    local w = ds.randn(n, 8)
    return function(vx, vy, s0)
      local st = smoke.rollout({v = {vx, vy}, s = s0}, 5,
        {solver = solver, iters = 6, tol = 1e-13, max_iters = 10000, bc = bc})
      return ds.mean(ds.square(st.s - target)) + ds.dot(st.v[1], w) * 0.01
    end
  end
  for _, solver in ipairs{"jacobi", "cg"} do
    for _, bc in ipairs{"periodic", "wall"} do
      it(string.format("5 steps, %s projection, %s", solver, bc), function()
        local vx, vy, s0 = ds.randn(n, 1, 0.7), ds.randn(n, 2, 0.7), ds.rand(n, 3)
        local ok, rep = ds.gradcheck(scene(solver, bc), {vx, vy, s0},
          {eps = 1e-6, rtol = 1e-5, atol = 1e-8, max_elems = 40})
        assert(ok, rep.message)
      end)
    end
  end
  it("5 steps in 3D with buoyancy and an inflow source", function()
    local s3 = {6, 5, 6}
    local mask = ds.zeros(s3)
    mask:set(1, 1); mask:set(2, 0.5)
    local src = ds.full(s3, 1)
    local fn = function(vx, vy, vz, s0)
      local st = smoke.rollout({v = {vx, vy, vz}, s = s0}, 5,
        {iters = 4, buoyancy = {0.3, 0, 0.1}, inflow = {mask = mask, value = src}})
      return ds.sum(ds.square(st.s)) + ds.sum(st.v[3])
    end
    local ok, rep = ds.gradcheck(fn, {ds.randn(s3, 1, 0.6), ds.randn(s3, 2, 0.6), ds.randn(s3, 3, 0.6), ds.rand(s3, 4)},
      {eps = 1e-6, rtol = 1e-5, atol = 1e-8, max_elems = 30})
    assert(ok, rep.message)
  end)
end)

describe("implicit-adjoint CG", function()
  -- Back-propagation through CG iterations written with differentiable ops:
  -- every dot product, step length and update is on the tape.
  local function unrolled_cg(vx, vy, bc, steps)
    local b = smoke.divergence(vx, vy, {bc = bc})
    local x = ds.zeros(vx:shape())
    local r, d = b, b
    local rr = ds.dot(r, r)
    for _ = 1, steps do
      local q = smoke.laplacian(d, {bc = bc})
      local alpha = rr / ds.dot(d, q)
      x = x + d * alpha
      r = r - q * alpha
      local rr2 = ds.dot(r, r)
      d = r + d * (rr2 / rr)
      rr = rr2
    end
    return smoke.gradsub(vx, vy, x, {bc = bc})
  end
  for _, case in ipairs{{"periodic", {14, 12}}, {"wall", {13, 11}}} do
    local bc, n = case[1], case[2]
    it("matches the gradient through unrolled, tightly converged CG iterations (" .. bc .. ")", function()
      local vx, vy = ds.randn(n, 1), ds.randn(n, 2)
      local wx, wy = ds.randn(n, 3), ds.randn(n, 4)
      -- iterations to converge to 1e-14 (counted without a tape)
      local steps = 0
      ds.no_grad(function()
        local b = smoke.divergence(vx, vy, {bc = bc})
        local x, r, d = ds.zeros(n), b, b
        local rr, bb = ds.dot(r, r):item(), ds.dot(b, b):item()
        while rr > 1e-28 * bb and steps < 500 do
          local q = smoke.laplacian(d, {bc = bc})
          local alpha = rr / ds.dot(d, q):item()
          x, r = x + d * alpha, r - q * alpha
          local rr2 = ds.dot(r, r):item()
          d = r + d * (rr2 / rr)
          rr = rr2
          steps = steps + 1
        end
      end)
      assert.is_true(steps > 5 and steps < 500)
      local function grads(proj)
        local a, b = vx:detach():requires_grad(), vy:detach():requires_grad()
        local tape = ds.tape()
        local loss = tape:record(function()
          local px, py = proj(a, b)
          return ds.dot(px, wx) + ds.dot(py, wy)
        end)
        tape:backward(loss)
        return a.grad, b.grad, loss:item()
      end
      local ux, uy, lu = grads(function(a, b) return unrolled_cg(a, b, bc, steps) end)
      local ix, iy, li = grads(function(a, b) return smoke.project(a, b, {solver = "cg", tol = 1e-14, bc = bc}) end)
      assert.is_true(math.abs(lu - li) < 1e-10 * math.max(1, math.abs(lu)))
      local err = math.max(maxabs(ux - ix), maxabs(uy - iy))
      local scale = math.max(maxabs(ix), maxabs(iy))
      assert.is_true(err < 1e-8 * scale, string.format("max |implicit - unrolled| = %.3g (scale %.3g)", err, scale))
    end)
  end
  it("uses one adjoint solve per projection, not the forward's iterations", function()
    smoke.cg_stats(true)
    local a, b = ds.randn({32, 32}, 1):requires_grad(), ds.randn({32, 32}, 2):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local st = smoke.rollout({v = {a, b}, s = ds.rand({32, 32}, 3)}, 4, {solver = "cg", tol = 1e-10})
      return ds.sum(ds.square(st.s))
    end)
    tape:backward(loss)
    local st = smoke.cg_stats()
    assert.are.equal(4, st.fwd_solves)
    assert.are.equal(4, st.adj_solves)
    assert.are.equal(0, st.unconverged)
  end)
end)
