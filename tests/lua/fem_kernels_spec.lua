-- fem plugin: float64 finite-difference checks of every element type's energy
-- gradient and Hessian, of every parameter derivative (through fem.residual's
-- adjoint), of one implicit step's IFT gradient (against central differences
-- and against the gradient of a tightly converged Newton unrolled in Lua), of
-- the static and symplectic steps, and of short rollouts.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local fem = ds.plugin("fem")

local function report(label, rep)
  io.stderr:write(string.format("  %s: %d elements, max abs err %.3g, max rel err %.3g\n", label, rep.checked,
                                rep.max_abs_err, rep.max_rel_err))
end

-- A deformed 2 x 1 x 1 cell bar (12 tets), every tet parameter off its default.
local mesh = fem.box_mesh{size = {0.2, 0.1, 0.1}, res = {2, 1, 1}}
local n, m = mesh.n, mesh.m
local pins = fem.select(mesh.verts, function(x) return x < 1e-9 end)
local function body_of(ty, o)
  o = o or {}
  return fem.body{
    verts = mesh.verts, rest = o.rest,
    sets = {{type = ty, elems = mesh.tets, E = o.E or 2e5, nu = o.nu or 0.3, density = o.density or 900,
             act_vol = o.act_vol or 0.04, act_fib = o.act_fib or -0.08, fib_x = 1, fib_y = 0.3, fib_z = 0.1}},
    pins = o.pins, dt = 1e-2, gravity = o.gravity or {0, -9.81, 0}, tol = 1e-12, mode = o.mode,
    ground = o.ground, damping = o.damping,
  }
end
local x0 = mesh.verts + ds.randn({n, 3}, 3) * 0.004
local v0 = ds.randn({n, 3}, 4) * 0.2
local W = ds.randn({n, 3}, 7)

describe("fem element energies", function()
  for _, ty in ipairs{"tet_snh", "tet_corot", "tet_linear"} do
    it(ty .. ": gradient = d energy, Hessian = d gradient (central differences)", function()
      local b = body_of(ty, {mode = "static", gravity = {0, 0, 0}})
      local y = mesh.verts + ds.randn({n, 3}, 11) * 0.01
      local G = b:residual(y, y):totable()
      local _, a = b:hessian(y, y)
      local H = {}
      local r, c, v = a.rows:totable(), a.cols:totable(), a.vals:totable()
      for k = 1, #r do
        local key = r[k] * 3 * n + c[k]
        H[key] = (H[key] or 0) + v[k]
      end
      local Y, eps, gerr, herr, gmax, hmax = y:totable(), 1e-6, 0, 0, 0, 0
      for i = 1, n do
        for d = 1, 3 do
          Y[i][d] = Y[i][d] + eps
          local yp = ds.tensor(Y)
          local ep, Gp = b:energy(yp, yp), b:residual(yp, yp):totable()
          Y[i][d] = Y[i][d] - 2 * eps
          local ym = ds.tensor(Y)
          local em, Gm = b:energy(ym, ym), b:residual(ym, ym):totable()
          Y[i][d] = Y[i][d] + eps
          gerr = math.max(gerr, math.abs((ep - em) / (2 * eps) - G[i][d]))
          gmax = math.max(gmax, math.abs(G[i][d]))
          for j = 1, n do
            for e = 1, 3 do
              local h = H[(3 * (j - 1) + e - 1) * 3 * n + 3 * (i - 1) + d - 1] or 0
              herr = math.max(herr, math.abs((Gp[j][e] - Gm[j][e]) / (2 * eps) - h))
              hmax = math.max(hmax, math.abs(h))
            end
          end
        end
      end
      io.stderr:write(string.format("  %s: gradient err %.3g (of %.3g), Hessian err %.3g (of %.3g)\n", ty, gerr, gmax,
                                    herr, hmax))
      assert.is_true(gmax > 1 and gerr < 1e-6 * gmax)
      assert.is_true(hmax > 1e3 and herr < 1e-6 * hmax)
    end)
  end

  it("the projected Hessian of a compressed and an inverted element is positive semi-definite", function()
    local X = ds.tensor{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
    local b = fem.body{verts = X, sets = {{type = "tet_snh", elems = ds.tensor({{0, 1, 2, 3}}, "i32"), E = 1e3}},
                       gravity = {0, 0, 0}, mode = "static"}
    for _, y in ipairs{ds.tensor{{0, 0, 0}, {0.3, 0, 0}, {0, 0.4, 0}, {0, 0, 0.5}},
                       ds.tensor{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, -0.5}}} do
      local Hp = b:hessian(y, y, nil, {project = true})
      local Ht = b:hessian(y, y, nil, {project = false})
      local min_p, min_t = math.huge, math.huge
      for s = 1, 200 do
        local z = ds.randn({12}, 100 + s)
        min_p = math.min(min_p, ds.dot(z, Hp:matvec(z)):item())
        min_t = math.min(min_t, ds.dot(z, Ht:matvec(z)):item())
      end
      assert.is_true(min_t < 0)        -- the true Hessian is indefinite here
      assert.is_true(min_p >= -1e-9)   -- its projection is not
    end
  end)
end)

describe("fem.residual: parameter, rest-shape and state derivatives (adjoint vs central differences)", function()
  for _, ty in ipairs{"tet_snh", "tet_corot", "tet_linear"} do
    it(ty, function()
      local y = x0 + v0 * 0.01
      local E, nu, rho = ds.full({m}, 2e5) + ds.randn({m}, 5) * 1e4, ds.tensor(0.31), ds.full({m}, 900)
      local av, af = ds.full({m}, 0.03), ds.full({m}, -0.05)
      local rest, g = ds.copy(mesh.verts), ds.tensor{0.5, -9.81, 0.2}
      local ok, rep = ds.gradcheck(function(y_, x_, v_, E_, nu_, rho_, av_, af_, rest_, g_)
        local b = body_of(ty, {rest = rest_, gravity = g_, damping = {alpha = 0.3, beta = 0.02},
                               ground = {y = 0.03, k = 1e5, friction = 0.4, eps = 0.05}})
        b:set_param(1, "E", E_); b:set_param(1, "nu", nu_); b:set_param(1, "density", rho_)
        b:set_param(1, "act_vol", av_); b:set_param(1, "act_fib", af_)
        return ds.dot(b:residual(y_, x_, v_), W)
      end, {y, x0, v0, E, nu, rho, av, af, rest, g}, {eps = 1e-6, rtol = 1e-5, atol = 1e-7})
      report(ty, rep)
      assert.is_true(ok, rep.message)
    end)
  end
end)

describe("fem.step: the implicit-function gradient", function()
  local ground = {y = 0.03, k = 1e5, friction = 0.4, eps = 0.05}
  for _, ty in ipairs{"tet_snh", "tet_corot", "tet_linear"} do
    it(ty .. " implicit Euler: every input against central differences", function()
      local E, rho, av = ds.full({m}, 2e5), ds.full({m}, 900), ds.full({m}, 0.03)
      local rest, g, pp = ds.copy(mesh.verts), ds.tensor{0, -9.81, 0}, ds.gather(mesh.verts, pins) + 0.002
      local ok, rep = ds.gradcheck(function(x_, v_, E_, rho_, av_, rest_, g_, pp_)
        local b = body_of(ty, {rest = rest_, gravity = g_, pins = pins, ground = ground,
                               damping = {alpha = 0.3, beta = 0.01}})
        b:set_param(1, "E", E_); b:set_param(1, "density", rho_); b:set_param(1, "act_vol", av_)
        local x1, v1 = b:step(x_, v_, {pin_pos = pp_})
        return ds.dot(x1, W) + 0.01 * ds.dot(v1, W)
      end, {x0, v0, E, rho, av, rest, g, pp}, {eps = 1e-7, rtol = 1e-5, atol = 1e-7})
      report(ty, rep)
      assert.is_true(ok, rep.message)
    end)
  end

  it("static equilibrium: gradient w.r.t. E, rest shape, gravity and pin targets", function()
    local E, rest, g, pp = ds.full({m}, 2e5), ds.copy(mesh.verts), ds.tensor{0, -9.81, 0}, ds.gather(mesh.verts, pins)
    local ok, rep = ds.gradcheck(function(E_, rest_, g_, pp_)
      local b = body_of("tet_snh", {rest = rest_, gravity = g_, pins = pins, mode = "static"})
      b:set_param(1, "E", E_)
      return ds.dot(b:static(nil, {pin_pos = pp_}), W)
    end, {E, rest, g, pp}, {eps = 1e-7, rtol = 1e-5, atol = 1e-8})
    report("static", rep)
    assert.is_true(ok, rep.message)
  end)

  it("symplectic Euler: every input against central differences", function()
    local E, rho, rest, g = ds.full({m}, 2e5), ds.full({m}, 900), ds.copy(mesh.verts), ds.tensor{0, -9.81, 0}
    local pp = ds.gather(mesh.verts, pins) + 0.001
    local ok, rep = ds.gradcheck(function(x_, v_, E_, rho_, rest_, g_, pp_)
      local b = body_of("tet_snh", {rest = rest_, gravity = g_, pins = pins, mode = "symplectic",
                                    damping = {alpha = 0.3}, ground = {y = 0.03, k = 1e5}})
      b:set_param(1, "E", E_); b:set_param(1, "density", rho_)
      local x1, v1 = b:step(x_, v_, {pin_pos = pp_})
      return ds.dot(x1, W) + 0.01 * ds.dot(v1, W)
    end, {x0, v0, E, rho, rest, g, pp}, {eps = 1e-7, rtol = 1e-5, atol = 1e-7})
    report("symplectic", rep)
    assert.is_true(ok, rep.message)
  end)

  it("equals the gradient of a tightly converged Newton unrolled on the tape", function()
    -- Unrolled: y <- y - H(y)^-1 G(y), G from fem.residual (differentiable), H held
    -- constant per iteration; at convergence its gradient is the IFT gradient.
    local E, g = ds.tensor(2e5), ds.tensor{0, -9.81, 0}
    local function grads(unrolled)
      local x, v = ds.copy(x0):requires_grad(), ds.copy(v0):requires_grad()
      E:requires_grad(); E:zero_grad(); g:requires_grad(); g:zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local b = body_of("tet_snh", {gravity = g, ground = {y = 0.03, k = 1e5}}) -- plain Newton needs no friction kink
        b:set_param(1, "E", E)
        local y
        if unrolled then
          local params = b:params()
          y = x + v * b.dt
          for _ = 1, 12 do
            local G = b:residual(y, x, v, {params = params})
            local H = ds.no_grad(function() return b:hessian(y, x, v, {params = params}) end)
            y = y - ds.reshape(ds.solve(H, ds.reshape(G, {3 * n})), {n, 3})
          end
        else
          y = b:step(x, v)
        end
        return ds.dot(y, W)
      end)
      tape:backward(loss)
      return {x.grad:totable(), v.grad:totable(), E.grad:item(), g.grad:totable()}
    end
    local a, u = grads(false), grads(true)
    local worst, scale = 0, 0
    for k = 1, 2 do
      for i = 1, n do
        for d = 1, 3 do
          worst = math.max(worst, math.abs(a[k][i][d] - u[k][i][d]))
          scale = math.max(scale, math.abs(a[k][i][d]))
        end
      end
    end
    io.stderr:write(string.format("  IFT vs unrolled Newton: max diff %.3g (scale %.3g); dL/dE %.6g vs %.6g\n", worst,
                                  scale, a[3], u[3]))
    assert.is_true(worst < 1e-9 * scale)
    assert.is_true(math.abs(a[3] - u[3]) < 1e-8 * math.abs(a[3]) and a[3] ~= 0)
    for d = 1, 3 do assert.is_true(math.abs(a[4][d] - u[4][d]) < 1e-8 * (math.abs(a[4][d]) + 1e-12)) end
  end)

  it("a 4-step rollout on the ground: initial state, E and pin trajectory", function()
    local E = ds.tensor(2e5)
    local traj = ds.gather(mesh.verts, pins) + 0.0
    local ok, rep = ds.gradcheck(function(x_, v_, E_, tr_)
      local b = body_of("tet_snh", {pins = pins, ground = ground, damping = {alpha = 0.1}})
      b:set_param(1, "E", E_)
      local xs = b:rollout(4, x_, v_, {pins = function(t) return tr_ + t * 0.001 end})
      return ds.dot(xs[5], W) + ds.dot(xs[3], W) * 0.5
    end, {x0, v0, E, traj}, {eps = 1e-7, rtol = 1e-5, atol = 1e-7})
    report("rollout", rep)
    assert.is_true(ok, rep.message)
  end)
end)
