-- fem plugin physics: the cantilever converges toward Euler-Bernoulli, a free
-- body conserves momentum, a stretched bar follows the analytic Neo-Hookean
-- uniaxial response, an inverted element recovers, and linear elasticity
-- passes the patch test.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local fem = ds.plugin("fem")

local function tip_deflection(r, ty)
  local mesh = fem.box_mesh{size = {1, 0.1, 0.1}, res = {10 * r, r, r}}
  local body = fem.body{verts = mesh.verts, sets = {{type = ty or "tet_snh", elems = mesh.tets, E = 1e8, nu = 0.3,
                        density = 1000}}, pins = fem.select(mesh.verts, function(x) return x < 1e-9 end)}
  local y, X = body:static():totable(), mesh.verts:totable()
  local s, c = 0, 0
  for i, p in ipairs(y) do
    if X[i][1] > 1 - 1e-9 then s, c = s + X[i][2] - p[2], c + 1 end
  end
  return s / c, fem.stats()
end

describe("fem physics", function()
  it("cantilever: the tip deflection converges toward Euler-Bernoulli as the mesh refines", function()
    local theory = 1000 * 9.81 * 0.01 / (8 * 1e8 * 0.1 ^ 4 / 12)   -- q L^4 / (8 E I), L = 1
    local d = {}
    for r = 1, 4 do
      local st
      d[r], st = tip_deflection(r)
      io.stderr:write(string.format("  res %d (%d tets): tip %.5f m (%.1f%% of theory %.5f), %d Newton iterations\n", r,
                                    60 * r ^ 3, d[r], 100 * d[r] / theory, theory, st.iters))
      assert.is_true(st.iters <= 6)
    end
    for r = 2, 4 do
      assert.is_true(d[r] > d[r - 1])                      -- softer as the mesh refines (locking recedes)
      assert.is_true(d[r] < theory * 1.03)                 -- never past the beam (+ shear) solution
    end
    -- the error against beam theory falls with an observed order that grows toward the
    -- asymptotic h^2 of linear tetrahedra (locking makes coarse meshes pre-asymptotic)
    local e = {}
    for r = 1, 4 do e[r] = theory - d[r] end
    local order = {}
    for r = 2, 4 do order[r] = math.log(e[r - 1] / e[r]) / math.log(r / (r - 1)) end
    io.stderr:write(string.format("  observed orders %.2f %.2f %.2f\n", order[2], order[3], order[4]))
    assert.is_true(order[4] > 1.2 and order[4] > order[3] and order[3] > order[2])
    assert.is_true(d[4] > 0.75 * theory)
  end)

  it("damped implicit Euler comes to rest at the static solution", function()
    local mesh = fem.box_mesh{size = {1, 0.1, 0.1}, res = {10, 1, 1}}
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e8, nu = 0.3,
                          density = 1000}}, pins = fem.select(mesh.verts, function(x) return x < 1e-9 end),
                          dt = 0.01, damping = {alpha = 60}}
    local ys = body:static()
    local x, v = ds.copy(mesh.verts), ds.zeros{mesh.n, 3}
    for t = 1, 300 do x, v = body:step(x, v, {step = t}) end
    local d = ds.norm(x - ys):item() / ds.norm(ys - mesh.verts):item()
    io.stderr:write(string.format("  dynamic vs static: relative difference %.3g, |v| %.3g\n", d, ds.norm(v):item()))
    assert.is_true(d < 1e-6)
  end)

  it("steps are bitwise identical for 1 and 2 threads", function()
    local mesh = fem.box_mesh{size = {0.3, 0.1, 0.1}, res = {10, 4, 4}}   -- 960 tets: 4 blocks of 256
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e5, density = 500}},
                          dt = 0.01, ground = {y = 0.0, k = 1e6, friction = 0.5, eps = 0.01}}
    local v0 = ds.randn({mesh.n, 3}, 9) * 0.3
    local function run()
      local x, v = mesh.verts, v0
      for t = 1, 3 do x, v = body:step(x, v, {step = t}) end
      return x:totable()
    end
    ds.set_threads(1)
    local a = run()
    ds.set_threads(2)
    local b = run()
    for i = 1, mesh.n do for d = 1, 3 do assert.are.equal(a[i][d], b[i][d]) end end
  end)

  it("a free body conserves linear momentum (implicit Euler) and angular momentum (symplectic Euler)", function()
    local mesh = fem.box_mesh{size = {0.3, 0.1, 0.2}, res = {3, 1, 2}}
    local n = mesh.n
    local function mom(body, x, v)
      local m, X, V = body:masses(), x:totable(), v:totable()
      local p, L = {0, 0, 0}, {0, 0, 0}
      for i = 1, n do
        for d = 1, 3 do p[d] = p[d] + m[i] * V[i][d] end
        L[1] = L[1] + m[i] * (X[i][2] * V[i][3] - X[i][3] * V[i][2])
        L[2] = L[2] + m[i] * (X[i][3] * V[i][1] - X[i][1] * V[i][3])
        L[3] = L[3] + m[i] * (X[i][1] * V[i][2] - X[i][2] * V[i][1])
      end
      return p, L
    end
    -- spin about z through the centre plus a drift, on a deformed start
    local X = mesh.verts:totable()
    local v0t = {}
    for i = 1, n do v0t[i] = {0.3 - 2 * (X[i][2] - 0.05), 0.1 + 2 * (X[i][1] - 0.15), 0.05} end
    local x0 = mesh.verts + ds.randn({n, 3}, 1) * 0.003
    for _, mode in ipairs{"implicit", "symplectic"} do
      local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e5, nu = 0.3,
                            density = 500}}, gravity = {0, 0, 0}, dt = mode == "implicit" and 1e-2 or 2e-4, mode = mode}
      local x, v = x0, ds.tensor(v0t)
      local p0, L0 = mom(body, x, v)
      for _ = 1, 20 do x, v = body:step(x, v) end
      local p1, L1 = mom(body, x, v)
      local dp, dL = 0, 0
      for d = 1, 3 do dp, dL = math.max(dp, math.abs(p1[d] - p0[d])), math.max(dL, math.abs(L1[d] - L0[d])) end
      io.stderr:write(string.format("  %s: |dp| %.3g (p %.3g), |dL| %.3g (L %.3g)\n", mode, dp, p0[1], dL, L0[3]))
      assert.is_true(dp < 1e-12)
      if mode == "symplectic" then assert.is_true(dL < 1e-12) else assert.is_true(dL < 0.02 * math.abs(L0[3])) end
    end
  end)

  it("a block sliding on the ground stops after v^2 / (2 mu g) (smoothed Coulomb friction)", function()
    local mesh = fem.box_mesh{size = {0.1, 0.1, 0.1}, res = {2, 2, 2}}
    local mu, g, v0 = 0.5, 9.81, 1.0
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e6, nu = 0.3,
                          density = 1000}}, dt = 0.005, ground = {y = 0, k = 1e7, friction = mu, eps = 0.01}}
    local x, v = mesh.verts, ds.zeros{mesh.n, 3}
    for _ = 1, 40 do x, v = body:step(x, v) end          -- settle on the ground
    local m, M, wx, push = body:masses(), 0, {}, {}
    for i = 1, mesh.n do M = M + m[i] end
    for i = 1, mesh.n do wx[i], push[i] = {m[i] / M, 0, 0}, {v0, 0, 0} end
    wx = ds.tensor(wx)
    local x0, t = ds.dot(x, wx):item(), 0
    v = v + ds.tensor(push)
    repeat
      x, v = body:step(x, v)
      t = t + 1
    until ds.dot(v, wx):item() < 1e-4 or t > 200
    local dist, want = ds.dot(x, wx):item() - x0, v0 * v0 / (2 * mu * g)
    io.stderr:write(string.format("  sliding: stopped after %.4f m in %.3f s (Coulomb: %.4f m in %.3f s)\n", dist,
                                  t * 0.005, want, v0 / (mu * g)))
    assert.is_true(math.abs(dist / want - 1) < 0.05)
    assert.is_true(math.abs(t * 0.005 / (v0 / (mu * g)) - 1) < 0.08)
  end)

  it("uniaxial stretch: the end force matches the analytic stable Neo-Hookean response", function()
    local E, nu = 1e6, 0.3
    local mu, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    local lp = lam + mu
    local mesh = fem.box_mesh{size = {0.4, 0.1, 0.1}, res = {4, 1, 1}}
    local X = mesh.verts:totable()
    for _, s in ipairs{1.3, 0.8} do
      -- lateral stretch t from P22 = 0: mu (1 - s) + lp s (s t^2 - 1) = 0
      local t = math.sqrt((1 + mu * (s - 1) / (lp * s)) / s)
      local P11 = mu * s - mu * t * t + lp * (s * t * t - 1) * t * t
      local target = {}
      for i, p in ipairs(X) do target[i] = {s * p[1], t * (p[2] - 0.05) + 0.05, t * (p[3] - 0.05) + 0.05} end
      local ends = fem.select(mesh.verts, function(x) return x < 1e-9 or x > 0.4 - 1e-9 end)
      local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = E, nu = nu}},
                            pins = ends, gravity = {0, 0, 0}, mode = "static"}
      local yt = ds.tensor(target)
      -- start the interior away from the affine state; the ends pinned to it
      local y = body:static(yt + ds.randn({mesh.n, 3}, 3) * 0.002, {pin_pos = ds.gather(yt, ends)})
      local err = ds.norm(y - yt):item()
      -- the reaction at x = L: the internal force summed over that face (no pins, no gravity)
      local free = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = E, nu = nu}},
                            gravity = {0, 0, 0}, mode = "static"}
      local G = free:residual(y, y):totable()
      local f = 0
      for i, p in ipairs(X) do if p[1] > 0.4 - 1e-9 then f = f + G[i][1] end end
      io.stderr:write(string.format("  stretch %.2f: force %.6g N, analytic P11 A = %.6g N, interior off affine by %.2g\n",
                                    s, f, P11 * 0.01, err))
      assert.is_true(err < 1e-9)
      assert.is_true(math.abs(f - P11 * 0.01) < 1e-8 * math.abs(P11 * 0.01))
    end
  end)

  it("an inverted element recovers under stable Neo-Hookean, without NaN", function()
    local X = ds.tensor{{0, 0, 0}, {0.1, 0, 0}, {0, 0.1, 0}, {0, 0, 0.1}}
    local body = fem.body{verts = X, sets = {{type = "tet_snh", elems = ds.tensor({{0, 1, 2, 3}}, "i32"), E = 1e5}},
                          gravity = {0, 0, 0}, dt = 1e-3, damping = {alpha = 20}}
    local x = ds.tensor{{0, 0, 0}, {0.1, 0, 0}, {0, 0.1, 0}, {0.01, 0.02, -0.06}}   -- the apex pushed through its base
    local v = ds.zeros{4, 3}
    local function vol(p) return fem.tet_volume(p[1], p[2], p[3], p[4]) end
    assert.is_true(vol(x:totable()) < 0)
    for _ = 1, 200 do x, v = body:step(x, v) end
    local V = vol(x:totable())
    io.stderr:write(string.format("  volume after 200 steps: %.4g (rest %.4g)\n", V, 0.1 ^ 3 / 6))
    for _, r in ipairs(x:totable()) do for d = 1, 3 do assert.is_true(r[d] == r[d]) end end
    assert.is_true(math.abs(V / (0.1 ^ 3 / 6) - 1) < 0.02)
  end)

  it("patch test: linear elasticity reproduces an affine displacement exactly", function()
    local mesh = fem.box_mesh{size = {1, 1, 1}, res = {3, 3, 3}}
    local X = mesh.verts:totable()
    local A = {{0.01, 0.003, -0.002}, {0.004, -0.006, 0.001}, {0.0, 0.002, 0.008}}
    local target = {}
    for i, p in ipairs(X) do
      target[i] = {}
      for d = 1, 3 do target[i][d] = p[d] + A[d][1] * p[1] + A[d][2] * p[2] + A[d][3] * p[3] + 0.001 * d end
    end
    local boundary = fem.select(mesh.verts, function(x, y, z)
      local function b(u) return u < 1e-9 or u > 1 - 1e-9 end
      return b(x) or b(y) or b(z)
    end)
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_linear", elems = mesh.tets, E = 3e6, nu = 0.35}},
                          pins = boundary, gravity = {0, 0, 0}, mode = "static"}
    local yt = ds.tensor(target)
    local y = body:static(mesh.verts, {pin_pos = ds.gather(yt, boundary)})
    local err = ds.norm(y - yt):item()
    io.stderr:write(string.format("  patch test: interior off the affine field by %.3g\n", err))
    assert.is_true(err < 1e-12)
  end)
end)
