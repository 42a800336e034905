-- Float64 finite-difference checks of every wave kernel's adjoint, and the bad
-- inputs each must refuse with a clear message.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local wave = ds.plugin("wave")

local errs = {} -- worst relative error per check, printed at the end for docs/wave.md

-- Central differences of kernel `name` launched by name: loss = sum over its
-- outputs of <w, out> with fixed random weights, w.r.t. the args named in `wrt`
-- (the others stay fixed: alpha = 0 cannot be perturbed below 0, which the
-- kernel refuses). Accumulated outputs restart from their given values.
local function check(name, args, params, wrt, eps)
  local k = ds.kernel(name)
  local outs, weights = {}, {}
  for i, s in ipairs(k:arg_names()) do
    local role = ds.C.ds_kernel_arg_role(k.ptr, i - 1)
    if role == 2 or role == 3 then
      outs[#outs + 1] = {s, role == 3 and args[s]:detach() or nil}
      weights[s] = ds.randn(args[s]:shape(), 1000 + i)
    end
  end
  local inputs = {}
  for i, s in ipairs(wrt) do inputs[i] = args[s] end
  local ok, rep = ds.gradcheck(function(...)
    local a = {}
    for s, t in pairs(args) do a[s] = t end
    for i, s in ipairs(wrt) do a[s] = select(i, ...) end
    for _, o in ipairs(outs) do a[o[1]] = o[2] and o[2]:detach() or ds.empty_like(args[o[1]]) end
    k:launch(a, params)
    local total
    for _, o in ipairs(outs) do
      local d = ds.dot(a[o[1]], weights[o[1]])
      total = total and total + d or d
    end
    return total
  end, inputs, {max_elems = 200, rtol = 1e-6, atol = 1e-9, eps = eps})
  assert(ok, name .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 0)
  local key = name .. " wrt " .. table.concat(wrt, ",")
  errs[key] = math.max(errs[key] or 0, rep.max_rel_err)
  return rep
end

-- A non-square grid so that a swapped row/column index would show.
local H, W = 7, 9
local function field(seed) return ds.randn({H, W}, seed) end
local function grid(p) return {dt = p.dt, dx = p.dx, boundary = p.boundary} end

describe("wave kernels: adjoints match central differences in f64", function()
  for _, bc in ipairs{0, 1} do
    for _, alpha in ipairs{0, 0.002} do
      local p = wave.params{n = 8, alpha = alpha, boundary = bc}
      -- c always; alpha only where a perturbation keeps it >= 0. Each output is at
      -- most quadratic in c and linear in alpha, so central differences are exact
      -- up to round-off, which a larger eps (1e-3) keeps far below the gradient.
      local phys = alpha > 0 and {"c", "alpha"} or {"c"}
      local function c_t() return ds.tensor(p.c) end
      local function a_t() return ds.tensor(p.alpha) end
      it(string.format("wave.step boundary=%d alpha=%g", bc, alpha), function()
        local args = {u_prev = field(1), u = field(2), c = c_t(), alpha = a_t(), u_next = ds.zeros{H, W}}
        check("wave.step", args, grid(p), {"u_prev", "u"})
        check("wave.step", args, grid(p), phys, 1e-3)
      end)
      it(string.format("wave.step_src boundary=%d alpha=%g", bc, alpha), function()
        local pr = grid(p)
        pr.gain = 3e8
        local args = {u_prev = field(1), u = field(2), src = field(3), c = c_t(), alpha = a_t(), u_next = ds.zeros{H, W}}
        check("wave.step_src", args, pr, {"u_prev", "u", "src"})
        check("wave.step_src", args, pr, phys, 1e-3)
      end)
      it(string.format("wave.start boundary=%d alpha=%g", bc, alpha), function()
        local args = {u0 = field(4), v0 = field(5), c = c_t(), alpha = a_t(), u1 = ds.zeros{H, W}}
        -- the kernel is linear in u0, v0, so a large eps loses nothing to truncation and keeps the
        -- small dt-sized velocity gradient clear of round-off
        check("wave.start", args, grid(p), {"u0", "v0"}, 1e-2)
        check("wave.start", args, grid(p), phys, 1e-3)
      end)
      it(string.format("wave.energy boundary=%d alpha=%g", bc, alpha), function()
        local a = field(6)
        local args = {u_prev = a, u = a + ds.randn({H, W}, 7, 0.1), c = c_t(), energy = ds.zeros{}}
        check("wave.energy", args, grid(p), {"u_prev", "u", "c"})
      end)
    end
  end
  it("wave.drops (positions, amplitudes, widths)", function()
    local drops = ds.tensor{{3.3, 4.1, 1.5, 1.7}, {1.2, 6.6, -0.7, 2.4}}
    check("wave.drops", {drops = drops, field = ds.zeros{H, W}}, nil, {"drops"})
  end)
  it("a 1-wide grid (edge paths only)", function()
    local p = wave.params{n = 8, boundary = 1}
    check("wave.step", {u_prev = ds.randn({5, 1}, 1), u = ds.randn({5, 1}, 2), c = ds.tensor(p.c),
                        alpha = ds.tensor(0), u_next = ds.zeros{5, 1}}, grid(p), {"u_prev", "u", "c"})
  end)
end)

describe("wave: whole rollouts", function()
  it("gradient of a 30-step rollout w.r.t. initial height and velocity (f64)", function()
    local p = wave.params{n = 12, alpha = 0.001}
    local u0, v0 = ds.randn({12, 12}, 11, 0.1), ds.randn({12, 12}, 12, 0.1 / p.dt)
    local target = ds.randn({12, 12}, 13, 0.1)
    local ok, rep = ds.gradcheck(function(u, v)
      local uT = wave.rollout(u, p, {steps = 30, v0 = v})
      return ds.sum(ds.square(uT - target))
    end, {u0, v0}, {max_elems = 40})
    assert(ok, rep.message)
  end)
  it("reference start (level 1 = 0) and sources", function()
    local p = wave.params{n = 10}
    local u0, src = ds.randn({10, 10}, 21, 0.1), ds.randn({10, 10}, 22)
    local ok, rep = ds.gradcheck(function(u, s)
      local uT = wave.rollout(u, p, {steps = 20, reference = true, src = s, gain = 1e7})
      return ds.sum(ds.square(uT))
    end, {u0, src}, {max_elems = 30})
    assert(ok, rep.message)
  end)
  it("gradient of a rollout w.r.t. the wave speed c and the damping alpha (f64)", function()
    local c, alpha = ds.tensor(300), ds.tensor(0.002)
    local p = wave.params{n = 12, c = c, alpha = alpha}
    local u0 = ds.randn({12, 12}, 14, 0.1)
    local target = ds.randn({12, 12}, 15, 0.1)
    local ok, rep = ds.gradcheck(function(u, cc, al)
      local q = {c = cc, alpha = al, dt = p.dt, dx = p.dx, boundary = 0}
      local uT, uT1 = wave.rollout(u, q, {steps = 25})
      return ds.sum(ds.square(uT - target)) + wave.energy(uT1, uT, q) * 1e-6
    end, {u0, c, alpha}, {max_elems = 30, rtol = 1e-6})
    assert(ok, rep.message)
    errs["rollout(25) wrt u0,c,alpha"] = rep.max_rel_err
  end)
  it("checkpointed rollout gives the same c and alpha gradients as the plain one", function()
    local u0 = ds.randn({16, 16}, 33, 0.1)
    local target = ds.randn({16, 16}, 34, 0.1)
    local function grad(seg)
      local c, alpha = ds.tensor(320):requires_grad(), ds.tensor(0.001):requires_grad()
      local p = wave.params{n = 16, c = c, alpha = alpha}
      local tape = ds.tape()
      local loss = tape:record(function()
        local uT = wave.rollout(u0, p, {steps = 40, tape = tape, checkpoint = seg})
        return ds.sum(ds.square(uT - target))
      end)
      tape:backward(loss)
      return c.grad:item(), alpha.grad:item()
    end
    local c1, a1 = grad(nil)
    local c2, a2 = grad(7)
    assert.is_true(c1 ~= 0 and a1 ~= 0)
    assert.are.equal(c1, c2)
    assert.are.equal(a1, a2)
  end)
  it("plain-number c and alpha survive a garbage collection between forward and recomputation", function()
    -- the 0-dim tensors made for plain numbers must be the same ones when a
    -- checkpoint segment is recomputed, or the tape refuses the backward
    local p = wave.params{n = 16, alpha = 0.001}
    local x = ds.randn({16, 16}, 35, 0.1):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local uT = wave.rollout(x, p, {steps = 30, tape = tape, checkpoint = 8})
      return ds.sum(ds.square(uT))
    end)
    collectgarbage("collect")
    collectgarbage("collect")
    assert.has_no.errors(function() tape:backward(loss) end)
    assert.is_true(x.grad:norm():item() > 0)
  end)
  it("checkpointed rollout gives the same gradient as the plain one", function()
    local p = wave.params{n = 16}
    local u0 = ds.randn({16, 16}, 31, 0.1)
    local target = ds.randn({16, 16}, 32, 0.1)
    local function grad(seg)
      local x = u0:detach():requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local uT = wave.rollout(x, p, {steps = 40, tape = tape, checkpoint = seg})
        return ds.sum(ds.square(uT - target))
      end)
      tape:backward(loss)
      return x.grad:tolist(), loss:item()
    end
    local g1, l1 = grad(nil)
    local g2, l2 = grad(7)
    assert.are.equal(l1, l2)
    for i = 1, #g1 do assert.are.equal(g1[i], g2[i]) end
  end)
end)

describe("wave: optimisable sources", function()
  it("a drop's position, amplitude and width are recovered from the wave it makes", function()
    local p = wave.params{n = 48}
    local function final(d) return wave.rollout(wave.drops(d, {48, 48}), p, {steps = 40}) end
    local target = ds.no_grad(final, ds.tensor{{20, 26, 0.5, 3}})
    local d = ds.tensor{{17, 22, 0.3, 2.5}}:requires_grad()
    local o = ds.optim.adam({d}, {lr = 0.1})
    for _ = 1, 120 do
      o:zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function() return ds.sum(ds.square(final(d) - target)) end)
      tape:backward(loss)
      o:step()
    end
    local got = d:tolist()
    assert.is_true(math.abs(got[1] - 20) < 0.05 and math.abs(got[2] - 26) < 0.05, "position " .. got[1] .. ", " .. got[2])
    assert.is_true(math.abs(got[3] - 0.5) < 0.01 and math.abs(got[4] - 3) < 0.05, "amplitude/width " .. got[3] .. ", " .. got[4])
  end)
end)

describe("wave: bad input", function()
  local p = wave.params{n = 8}
  it("refuses a time step past the CFL limit, naming kernel and param", function()
    local bad = wave.params{n = 8, dt = 1.01 * wave.dt_max(340, 1 / 8)}
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, bad)
    assert.is_false(ok)
    assert.matches("wave.step", err, 1, true)
    assert.matches("'dt'", err, 1, true)
    assert.matches("CFL", err, 1, true)
    -- exactly at the limit is allowed; damping lowers the limit
    assert.has_no.errors(function() wave.step(ds.zeros{8, 8}, ds.zeros{8, 8}, wave.params{n = 8, dt = wave.dt_max(340, 1 / 8)}) end)
    local damped = wave.params{n = 8, alpha = 0.01, dt = wave.dt_max(340, 1 / 8)}
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, damped)
    assert.is_false(ok)
    assert.matches("CFL", err, 1, true)
  end)
  it("refuses mismatched shapes, naming the argument", function()
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 7}, p)
    assert.is_false(ok)
    assert.matches("wave.step", err, 1, true)
    assert.matches("'u' (#2)", err, 1, true)
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, p, ds.zeros{4, 4})
    assert.is_false(ok)
    assert.matches("'src'", err, 1, true)
    ok, err = pcall(wave.step, ds.zeros{64}, ds.zeros{64}, p)
    assert.is_false(ok)
    assert.matches("dims", err, 1, true)
  end)
  it("refuses bad physical parameters", function()
    for _, bad in ipairs{{c = -1}, {dx = 0}, {alpha = -1}} do
      local q = wave.params{n = 8}
      for k, v in pairs(bad) do q[k] = v end
      local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, q)
      assert.is_false(ok)
      assert.matches("wave.step", err, 1, true)
    end
    local q = wave.params{n = 8}
    q.boundary = 3
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, q)
    assert.is_false(ok)
    assert.matches("boundary", err, 1, true)
    assert.has_error(function() wave.params{boundary = "periodic"} end)
  end)
  it("checks c and alpha given as tensors in the forward, naming the argument", function()
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, wave.params{n = 8, c = ds.tensor(-5), dt = 1e-4})
    assert.is_false(ok)
    assert.matches("wave.step: argument 'c' (wave speed) must be positive", err, 1, true)
    ok, err = pcall(wave.start, ds.zeros{8, 8}, nil, wave.params{n = 8, alpha = ds.tensor(-1), dt = 1e-4})
    assert.is_false(ok)
    assert.matches("wave.start: argument 'alpha' (damping) must be >= 0", err, 1, true)
    -- a speed raised past the CFL limit after the params were made
    local c = ds.tensor(340)
    local q = wave.params{n = 8, c = c}
    c:fill_(1000)
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, q)
    assert.is_false(ok)
    assert.matches("wave.step: param 'dt'", err, 1, true)
    assert.matches("CFL", err, 1, true)
    assert.matches("argument 'c' = 1000", err, 1, true)
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, {c = ds.zeros{2}, dt = 1e-4, dx = 0.1, boundary = 0})
    assert.is_false(ok)
    assert.matches("argument 'c' (#3) has 1 dims", err, 1, true)
  end)
  it("refuses drops with non-positive width", function()
    local ok, err = pcall(wave.drops, ds.tensor{{1, 1, 1, 0}}, {4, 4})
    assert.is_false(ok)
    assert.matches("wave.drops", err, 1, true)
    assert.matches("width", err, 1, true)
  end)
end)

describe("wave: FD report", function()
  it("prints the worst relative errors", function()
    local keys = {}
    for k in pairs(errs) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do print(string.format("fd %-40s max_rel_err %.3g", k, errs[k])) end
    assert.is_true(#keys > 0)
  end)
end)
