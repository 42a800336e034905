-- ds.kit: the fused MLP against ds.nn.mlp (forward and every gradient, every
-- activation), float64 gradient checks of core.p2g / core.g2p / core.mlp,
-- determinism across thread counts, and clear errors for bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function maxdiff(a, b) return ds.norm(a - b):item() end
local GC = {eps = 1e-6, rtol = 1e-6, atol = 1e-9}

-- particles strictly inside a grid of `dims` nodes (dx, origin): 0.5 <= (x - o)/dx < n - 1.5
local function inside(P, dims, dx, origin, seed)
  local cols = {}
  for d = 1, #dims do
    local lo, hi = origin[d] + 0.52 * dx, origin[d] + (dims[d] - 1.52) * dx
    cols[d] = ds.rand({P, 1}, seed + d, lo, hi):totable()
  end
  local rows = {}
  for p = 1, P do
    rows[p] = {}
    for d = 1, #dims do rows[p][d] = cols[d][p][1] end
  end
  return ds.tensor(rows)
end

describe("ds.kit.mlp (fused) equals ds.nn.mlp", function()
  local acts = {"tanh", "relu", "sigmoid", "sin", "identity", "none"}
  for _, act in ipairs(acts) do
    for _, out_act in ipairs{"none", "tanh", act} do
      it(act .. " hidden, " .. out_act .. " output", function()
        local net = ds.nn.mlp{sizes = {5, 8, 7, 3}, act = act, out_act = out_act, seed = 3, bias_uniform = 0.3}
        local x = ds.randn({4, 5}, 11)
        local r = ds.randn({4, 3}, 12)
        local function run(fwd)
          x:requires_grad()
          x:zero_grad()
          for _, p in ipairs(net:parameters()) do p:zero_grad() end
          local tape = ds.tape()
          local y
          local loss = tape:record(function() y = fwd(); return ds.dot(y, r) end)
          tape:backward(loss)
          local grads = {x.grad:detach()}
          for i, p in ipairs(net:parameters()) do grads[i + 1] = p.grad:detach() end
          return y:detach(), grads
        end
        local y_ref, g_ref = run(function() return net:forward(x) end)
        local y_kit, g_kit = run(function() return ds.kit.mlp(net, x) end)
        assert.is_true(maxdiff(y_ref, y_kit) < 1e-12)
        for i = 1, #g_ref do
          assert.is_true(maxdiff(g_ref[i], g_kit[i]) < 1e-12, "gradient " .. i .. " differs")
        end
      end)
    end
  end

  it("takes a single input vector", function()
    local net = ds.nn.mlp{sizes = {3, 4, 2}, act = "tanh", out_act = "sigmoid", seed = 1}
    local x = ds.tensor{0.3, -0.2, 0.9}
    local y = ds.kit.mlp(net, x)
    assert.same({2}, y:shape())
    assert.is_true(maxdiff(y, net:forward(x)) < 1e-12)
  end)

  it("flattens parameters in the documented layout (W1 row-major, b1, W2, b2)", function()
    local net = ds.nn.mlp{sizes = {2, 3, 1}, seed = 2}
    local w = ds.kit.flatten(net:parameters()):totable()
    local W1, b2 = net.layers[1].W:totable(), net.layers[2].b:totable()
    assert.equal(2 * 3 + 3 + 3 + 1, #w)
    assert.equal(W1[1][2], w[2])
    assert.equal(W1[2][1], w[4])
    assert.equal(b2[1], w[#w])
  end)
end)

describe("kit kernel adjoints (float64 central differences)", function()
  it("core.p2g 2D", function()
    local dims, dx, o = {6, 7}, 0.5, {0.1, -0.2}
    local x, v = inside(9, dims, dx, o, 1), ds.randn({9, 3}, 2)
    local ok, rep = ds.gradcheck_kernel("core.p2g", {x, v, ds.empty{6, 7, 3}}, {dx, o[1], o[2], 0, 0}, GC)
    assert.is_true(ok, rep.message)
  end)
  it("core.p2g 3D", function()
    local dims, dx, o = {5, 6, 5}, 0.3, {0, 0.2, -1}
    local x, v = inside(7, dims, dx, o, 3), ds.randn({7, 2}, 4)
    local ok, rep = ds.gradcheck_kernel("core.p2g", {x, v, ds.empty{5, 6, 5, 2}}, {dx, o[1], o[2], o[3], 0}, GC)
    assert.is_true(ok, rep.message)
  end)
  it("core.g2p 2D and 3D", function()
    local x2 = inside(8, {6, 5}, 0.25, {0, 0}, 5)
    local ok, rep = ds.gradcheck_kernel("core.g2p", {x2, ds.randn({6, 5, 2}, 6), ds.empty{8, 2}}, {0.25, 0, 0, 0, 0}, GC)
    assert.is_true(ok, rep.message)
    local x3 = inside(6, {5, 5, 6}, 0.5, {1, 0, 0}, 7)
    ok, rep = ds.gradcheck_kernel("core.g2p", {x3, ds.randn({5, 5, 6, 1}, 8), ds.empty{6, 1}}, {0.5, 1, 0, 0, 0}, GC)
    assert.is_true(ok, rep.message)
  end)
  it("core.g2p in clamp mode (particles outside: zero position gradient there)", function()
    local x = ds.tensor{{-3, 1.0}, {1.2, 40}, {1.1, 1.3}}
    local ok, rep = ds.gradcheck_kernel("core.g2p", {x, ds.randn({5, 5, 2}, 9), ds.empty{3, 2}}, {0.5, 0, 0, 0, 1}, GC)
    assert.is_true(ok, rep.message)
  end)
  it("core.mlp, every activation", function()
    for a = 0, 4 do
      local spec = ds.tensor({4, 5, 6, 2, a, (a + 1) % 5, (a + 3) % 5}, "i32")
      local nw = 4 * 5 + 5 + 5 * 6 + 6 + 6 * 2 + 2
      local ok, rep = ds.gradcheck_kernel("core.mlp", {ds.randn({3, 4}, 10 + a), ds.randn({nw}, 20 + a), spec,
                                                       ds.empty{3, 2}}, {}, GC)
      assert.is_true(ok, "activation " .. a .. ": " .. tostring(rep.message))
    end
  end)
  it("core.mlp with a batch of several sample blocks", function()
    local spec = ds.tensor({3, 4, 2, 1, 0}, "i32")
    local ok, rep = ds.gradcheck_kernel("core.mlp", {ds.randn({70, 3}, 31), ds.randn({3 * 4 + 4 + 4 * 2 + 2}, 32),
                                                     spec, ds.empty{70, 2}}, {}, GC)
    assert.is_true(ok, rep.message)
  end)
  it("ds.kit.p2g / g2p through a tape (mass, momentum and back)", function()
    local x = inside(12, {8, 8}, 0.125, {0, 0}, 40)
    local m = ds.rand({12, 1}, 41, 0.5, 1.5)
    local ok, rep = ds.gradcheck(function(x, m)
      local grid = ds.kit.p2g(x, m, {8, 8}, {dx = 0.125})
      return ds.sum(ds.square(ds.kit.g2p(x, grid, {dx = 0.125})))
    end, {x, m}, GC)
    assert.is_true(ok, rep.message)
  end)
end)

describe("ds.kit transfers", function()
  it("conserve mass and are bitwise identical for 1 and 2 threads", function()
    local dims = {32, 32}
    local x = inside(5000, dims, 1 / 32, {0, 0}, 50)
    local v = ds.randn({5000, 3}, 51)
    ds.set_threads(1)
    local g1 = ds.kit.p2g(x, v, dims, {dx = 1 / 32}):totable()
    local m = ds.kit.p2g(x, ds.ones{5000, 1}, dims, {dx = 1 / 32})
    ds.set_threads(2)
    local g2 = ds.kit.p2g(x, v, dims, {dx = 1 / 32}):totable()
    assert.same(g1, g2)
    assert.is_true(math.abs(ds.sum(m):item() - 5000) < 1e-9)
  end)
end)

describe("ds.kit bad input", function()
  it("names the kernel, the argument and the particle outside the grid", function()
    local x = ds.tensor{{0.5, 0.5}, {0.5, 3.9}}
    local ok, err = pcall(ds.kit.p2g, x, ds.ones{2, 1}, {4, 4})
    assert.is_false(ok)
    assert.matches("core.p2g: argument 'x' %(#1%): particle 1 %(0%-based%) at %(0.5, 3.9%) is outside the grid on axis 1", err)
    ok, err = pcall(ds.kit.g2p, x, ds.zeros{4, 4, 1})
    assert.is_false(ok)
    assert.matches("core.g2p: argument 'x' %(#1%): particle 1", err)
    -- clamp mode accepts it
    assert.is_true(pcall(ds.kit.p2g, x, ds.ones{2, 1}, {4, 4}, {clamp = true}))
  end)
  it("rejects wrong shapes and grid settings", function()
    local x = ds.tensor{{1.2, 1.2}}
    local ok, err = pcall(ds.kit.p2g, x, ds.ones{2, 1}, {4, 4})
    assert.is_false(ok)
    assert.matches("core.p2g: argument 'v' %(#2%) has shape {2,1}, expected {1,1}", err)
    ok, err = pcall(ds.kit.p2g, x, ds.ones{1, 1}, {4, 4}, {dx = -1})
    assert.is_false(ok)
    assert.matches("dx must be a positive number", err)
    ok, err = pcall(ds.kit.p2g, x, ds.ones{1, 1}, {2, 4})
    assert.is_false(ok)
    assert.matches("core.p2g: grid axis 0 has 2 nodes", err)
    ok, err = pcall(ds.kit.g2p, ds.ones{1, 4}, ds.zeros{4, 4, 1})
    assert.is_false(ok)
    assert.matches("core.g2p: argument 'x' %(#1%) must have shape {P, 2} or {P, 3}", err)
  end)
  it("rejects an unsupported activation and a wrong weight count", function()
    local ok, err = pcall(ds.kit.mlp, {sizes = {2, 3}, acts = {"gelu"}, w = ds.zeros{9}}, ds.zeros{1, 2})
    assert.is_false(ok)
    assert.matches("unsupported activation 'gelu' %(layer 1%)", err)
    ok, err = pcall(ds.kit.mlp, {sizes = {2, 3}, acts = {"tanh"}, w = ds.zeros{8}}, ds.zeros{1, 2})
    assert.is_false(ok)
    assert.matches("core.mlp: argument 'w' %(#2%) has shape {8}, expected {9}", err)
    local k = ds.kernel("core.mlp")
    ok, err = pcall(k.launch, k, {ds.zeros{1, 2}, ds.zeros{9}, ds.tensor({2, 3, 7}, "i32"), ds.empty{1, 3}})
    assert.is_false(ok)
    assert.matches("core.mlp: argument 'spec' %(#3%): layer 1 has activation 7, which is not supported", err)
    ok, err = pcall(ds.kit.mlp, {sizes = {2, 3}, acts = {"tanh"}, w = ds.zeros{9}}, ds.zeros{1, 5})
    assert.is_false(ok)
    assert.matches("core.mlp: argument 'x' %(#1%) has shape {1,5}, expected {%*,2}", err)
  end)
  it("describes a net by its activation functions, refusing one set by hand", function()
    local net = ds.nn.mlp{sizes = {2, 4, 3}, act = "relu", out_act = "none"}
    local sizes, acts = ds.kit.describe(net)
    assert.are.same({2, 4, 3}, sizes)
    assert.are.same({"relu", "identity"}, acts)
    -- the name still says relu, but net:forward would run exp: never run it as relu
    net.act = ds.exp
    local ok, err = pcall(ds.kit.mlp, net, ds.zeros{1, 2})
    assert.is_false(ok)
    assert.matches("ds.kit.mlp: layer 1 of the net has an activation (a custom function)", err, 1, true)
    -- a known function set by hand is described as what it is
    net.act = ds.sigmoid
    sizes, acts = ds.kit.describe(net)
    assert.are.same({"sigmoid", "identity"}, acts)
  end)
end)
