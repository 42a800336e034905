-- springs plugin: float64 finite-difference checks of every adjoint kernel, the
-- time-of-impact sign test, and bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local springs = ds.plugin("springs")

-- A small 2D frame whose lower masses sit just above the ground, falling, so one
-- step covers free flight, TOI contact, friction and the wall.
local function frame(opts)
  opts = opts or {}
  local scene = {
    x = {{0.20, 0.105}, {0.30, 0.13}, {0.40, 0.104}, {0.21, 0.21}, {0.31, 0.20}, {0.42, 0.22}},
    v = {{0.3, -1.0}, {-0.2, 0.4}, {0.5, -2.0}, {0.1, 0.3}, {-0.4, -0.1}, {0.6, 0.2}},
    springs = {{1, 2}, {2, 3}, {4, 5}, {5, 6}, {1, 4}, {2, 5}, {3, 6}, {1, 5}, {2, 4}, {2, 6}, {3, 5}},
    stiffness = 300, amplitude = 0.2, spring_damping = 0.7, mass = {1, 2, 1, 0.5, 1, 1.5},
    dt = opts.dt or 1e-2, damping = 3, gravity = -4.8,
    ground = opts.ground or {mode = "toi", y = 0.1, restitution = 0.3, friction = 0.4},
    wall = opts.wall,
  }
  return springs.system(scene)
end

-- A stepping kernel's arguments by name -> the positional list gradcheck_kernel
-- takes (the order comes from the kernel's C table). Every tensor is a fresh
-- copy, so the checker's requires_grad and perturbations stay off the system.
local function positional(kernel, named)
  local out = {}
  for i, name in ipairs(ds.kernel(kernel):arg_names()) do
    local t = named[name]
    assert(t ~= nil, kernel .. ": no test value for argument " .. name)
    out[i] = t:detach()
  end
  return out
end
local function stepping_args(sys, extra) return springs.system_args(sys, extra) end
local function check_kernel(kernel, sys, extra, params, opts)
  return ds.gradcheck_kernel(kernel, positional(kernel, stepping_args(sys, extra)), params, opts)
end

local function perturbed(t, seed, s)
  return t + ds.randn(t:shape(), seed, s)
end

local function check_step(sys, label)
  local act = ds.randn({sys.ns}, 5, 0.5)
  local x, v = sys.x0, sys.v0
  local ok, rep = check_kernel("springs.step", sys, {x = x, v = v, act = act, x_out = ds.empty_like(x), v_out = ds.empty_like(v)},
                               springs.phys_params(sys), {eps = 1e-7, rtol = 1e-5, atol = 1e-8, max_elems = 64})
  assert(ok, label .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 40)
  return rep
end

describe("springs kernels: gradients (float64 central differences)", function()
  it("springs.step with TOI contact, restitution and Coulomb friction", function()
    check_step(frame(), "toi+friction")
  end)
  it("springs.step with sticky TOI (the reference robots)", function()
    -- restitution 0.2, not the robots' 0: the checker steps every input both ways
    check_step(frame{ground = {mode = "toi", y = 0.1, restitution = 0.2, friction = "sticky"}}, "toi sticky")
  end)
  it("springs.step with the naive integrator", function()
    check_step(frame{ground = {mode = "naive", y = 0.1, restitution = 0.5, friction = 0.2}}, "naive")
  end)
  it("springs.step with walls, projected and reference semantics", function()
    check_step(frame{wall = {lo = 0.205, hi = 0.41, friction = 0.3}}, "wall project")
    check_step(frame{wall = {lo = 0.205, hi = 0.41, friction = 0.3, reference = true}}, "wall reference")
  end)
  it("springs.step in 3D", function()
    local sys = springs.system{
      x = {{0, 0.105, 0}, {0.1, 0.13, 0.02}, {0.03, 0.2, 0.1}, {0.12, 0.22, 0.11}},
      v = {{0.3, -1, 0.2}, {-0.2, 0.4, 0.1}, {0.1, 0.3, -0.3}, {0.5, -0.2, 0.1}},
      springs = {{1, 2}, {1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 4}},
      stiffness = 300, amplitude = 0.1, spring_damping = 0.5, dt = 1e-2, damping = 2, gravity = -9.8,
      ground = {mode = "toi", y = 0.1, restitution = 0.2, friction = 0.5},
    }
    check_step(sys, "3d")
  end)
  it("springs.rollout: 50 steps with ground contact (TOI)", function()
    local sys = frame{dt = 4e-3}
    local T = 50
    local act = ds.randn({T, sys.ns}, 9, 0.5)
    local p = springs.phys_params(sys, {steps = T})
    local named = {x0 = sys.x0, v0 = sys.v0, act = act, xs = ds.empty({T + 1, sys.n, 2}), vs = ds.empty({T + 1, sys.n, 2})}
    -- the rollout must actually touch the ground for this test to mean anything
    local xs = sys:rollout(T, {act = act})
    local lowest = math.huge
    for i, val in ipairs(xs:tolist()) do if i % 2 == 0 then lowest = math.min(lowest, val) end end
    assert.is_true(lowest >= 0.1 - 1e-12 and lowest < 0.1 + 1e-3)
    local ok, rep = check_kernel("springs.rollout", sys, named, p, {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 48})
    assert(ok, rep.message)
  end)
  it("springs.rollout with one held actuation row", function()
    local sys = frame{dt = 4e-3}
    local T = 20
    local ok, rep = check_kernel("springs.rollout", sys, {x0 = sys.x0, v0 = sys.v0, act = ds.randn({1, sys.ns}, 3, 0.5),
                                 xs = ds.empty({T + 1, sys.n, 2}), vs = ds.empty({T + 1, sys.n, 2})},
                                 springs.phys_params(sys, {steps = T}), {eps = 1e-6, rtol = 1e-4, atol = 1e-7})
    assert(ok, rep.message)
  end)
  -- nn_rollout's arguments for a network of the given hidden widths and
  -- activations (random weights in the kit's flat layout).
  local function nn_named(sys, T, hidden, acts, seed)
    local sizes = {sys:n_inputs()}
    for _, h in ipairs(hidden) do sizes[#sizes + 1] = h end
    sizes[#sizes + 1] = sys.ns
    local nw, H = 0, 0
    for l = 1, #sizes - 1 do
      nw = nw + sizes[l] * sizes[l + 1] + sizes[l + 1]
      if l < #sizes - 1 then H = H + sizes[l + 1] end
    end
    return {x0 = sys.x0, v0 = sys.v0, w = ds.randn({nw}, seed, 0.3), spec = ds.kit.mlp_spec(sizes, acts),
            xs = ds.empty({T + 1, sys.n, 2}), vs = ds.empty({T + 1, sys.n, 2}), hidden = ds.empty({T, H}),
            acts = ds.empty({T, sys.ns})}
  end
  local function nn_params(sys, T)
    return springs.phys_params(sys, {steps = T, t0 = 3, n_sin = 10, omega = 10, input_scale = 0.05,
                                     goal_x = 0.9, goal_y = 0.2, goal_z = 0})
  end
  -- Every output carries a random weight in the checker's loss, so the
  -- gradients arriving at hidden (the kit's injection) and acts are checked.
  it("springs.nn_rollout: the fused controller (2-layer tanh/tanh) and physics", function()
    -- sticky (the robots) and Coulomb with restitution
    for _, ground in ipairs{{mode = "toi", y = 0.1, restitution = 0.2, friction = "sticky"},
                            {mode = "toi", y = 0.1, restitution = 0.3, friction = 0.4}} do
      local sys = frame{dt = 4e-3, ground = ground}
      local T = 30
      local ok, rep = check_kernel("springs.nn_rollout", sys, nn_named(sys, T, {8}, {"tanh", "tanh"}, 1),
                                   nn_params(sys, T), {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 24})
      assert(ok, rep.message)
      print(string.format("# nn_rollout tanh/tanh (%s ground): %d checked, max abs err %.2e, max rel err %.2e",
                          tostring(ground.friction), rep.checked, rep.max_abs_err, rep.max_rel_err))
    end
  end)
  it("springs.nn_rollout: 3-layer relu/sigmoid and sin nets, an identity output, no hidden layer", function()
    local sys = frame{dt = 4e-3, ground = {mode = "toi", y = 0.1, restitution = 0.3, friction = 0.4}}
    local T = 20
    for _, case in ipairs{{{8, 6}, {"relu", "relu", "sigmoid"}}, {{7}, {"tanh", "identity"}},
                          {{5, 4}, {"sin", "sigmoid", "identity"}}, {{}, {"tanh"}}} do
      local ok, rep = check_kernel("springs.nn_rollout", sys, nn_named(sys, T, case[1], case[2], 4), nn_params(sys, T),
                                   {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 24})
      assert(ok, table.concat(case[2], "/") .. ": " .. tostring(rep.message))
      print(string.format("# nn_rollout %s: %d checked, max abs err %.2e, max rel err %.2e",
                          table.concat(case[2], "/"), rep.checked, rep.max_abs_err, rep.max_rel_err))
      assert.is_true(rep.checked > 50)
    end
  end)
  it("springs.nn_rollout: weights as the per-layer list of net:parameters()", function()
    local sys = frame{dt = 4e-3, ground = {mode = "toi", y = 0.1, restitution = 0.3, friction = 0.4}}
    local T = 15
    local named = nn_named(sys, T, {6, 5}, {"relu", "tanh", "sigmoid"}, 6)
    local net = ds.nn.mlp{sizes = {sys:n_inputs(), 6, 5, sys.ns}, act = "relu", seed = 8, std = 0.4}
    named.w = nil
    local args = positional("springs.nn_rollout", setmetatable({w = ds.zeros{1}}, {__index = springs.system_args(sys, named)}))
    args[#args] = nil -- the list slot: the parameters follow as the rest of the positional arguments
    for _, p in ipairs(net:parameters()) do args[#args + 1] = p:detach() end
    local ok, rep = ds.gradcheck_kernel("springs.nn_rollout", args, nn_params(sys, T),
                                        {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 16})
    assert(ok, rep.message)
    print(string.format("# nn_rollout per-layer list relu/tanh/sigmoid: %d checked, max abs err %.2e",
                        rep.checked, rep.max_abs_err))
  end)
  it("springs.nn_input", function()
    local sys = frame()
    local x, v = perturbed(sys.x0, 1, 0.01), sys.v0:detach()
    local ok, rep = ds.gradcheck_kernel("springs.nn_input", {x, v, ds.empty({sys:n_inputs()})},
                                        {t = 7, dt = 4e-3, n_sin = 10, omega = 10, input_scale = 0.05, goal_x = 0.9,
                                         goal_y = 0.2, goal_z = 0})
    assert(ok, rep.message)
  end)
  it("springs.select (core.pick and core.affine)", function()
    local xs = ds.randn({4, 3, 2}, 1)
    local ok, rep = ds.gradcheck(function(t) return springs.select(t, 3, 2, 2, -1.5) end, {xs})
    assert(ok, rep.message)
    assert.are.equal(-1.5 * xs:tolist()[(2 * 3 + 1) * 2 + 2], springs.select(xs, -2, 2, 2, -1.5):item())
    local ok2, err = pcall(springs.select, xs, 5, 1, 1, 1)
    assert.is_false(ok2)
    assert.matches("springs.select", err, 1, true)
    assert.matches("out of range", err, 1, true)
  end)
  it("the fused nn_rollout equals a Lua controller stepping springs.step", function()
    local sys = frame{dt = 4e-3, ground = {mode = "toi", y = 0.1, friction = "sticky"}}
    local n_in = sys:n_inputs()
    local nets = {sys:controller{hidden = 8, seed = 3},
                  ds.nn.mlp{sizes = {n_in, 8, 6, sys.ns}, act = "relu", out_act = "tanh", seed = 5, std = 0.4},
                  ds.nn.mlp{sizes = {n_in, 6, sys.ns}, act = "sigmoid", out_act = "none", seed = 6, std = 0.4}}
    local T = 12
    for k, net in ipairs(nets) do
      local xs, _, hid, acts = sys:nn_rollout(T, net)
      local x, v = sys.x0, sys.v0
      for t = 0, T - 1 do
        local input = sys:nn_input(x, v, t)
        -- the hidden activations of the step, concatenated, as the fused rollout gives them
        local h, parts = input, {}
        for l = 1, #net.layers - 1 do
          h = net.act(net.layers[l]:forward(h))
          parts[l] = h:tolist()
        end
        local act = net:forward(input)
        local fused_h, i = springs.row(hid, t + 1):tolist(), 0
        for _, part in ipairs(parts) do
          for _, val in ipairs(part) do
            i = i + 1
            assert.is_true(math.abs(fused_h[i] - val) < 1e-12)
          end
        end
        assert.are.equal(#fused_h, i)
        local fa, la = springs.row(acts, t + 1):tolist(), act:tolist()
        for j = 1, #la do assert.is_true(math.abs(fa[j] - la[j]) < 1e-12) end
        x, v = sys:step(x, v, act)
      end
      local a, b = springs.row(xs, T + 1):tolist(), x:tolist()
      for i = 1, #a do assert.is_true(math.abs(a[i] - b[i]) < 1e-12, "net " .. k) end
    end
  end)
  it("nn_rollout's gradients reach the net's parameters and agree with the Lua controller's", function()
    local sys = frame{dt = 4e-3, ground = {mode = "toi", y = 0.1, friction = "sticky"}}
    local net = ds.nn.mlp{sizes = {sys:n_inputs(), 8, 5, sys.ns}, act = "relu", out_act = "tanh", seed = 7, std = 0.4}
    local T = 10
    local function grads(fused)
      local params = net:parameters()
      for _, p in ipairs(params) do p:requires_grad():zero_grad() end
      local tape = ds.tape()
      local loss = tape:record(function()
        if fused then
          local xs, _, hid = sys:nn_rollout(T, net)
          return springs.select(xs, -1, 1, 1, -1) + ds.sum(hid) * 0.01
        end
        local x, v, hsum = sys.x0, sys.v0, nil
        for t = 0, T - 1 do
          local input = sys:nn_input(x, v, t)
          local h1 = net.act(net.layers[1]:forward(input))
          local h2 = net.act(net.layers[2]:forward(h1))
          local s = ds.sum(h1) + ds.sum(h2)
          hsum = hsum and hsum + s or s
          x, v = sys:step(x, v, ds.tanh(net.layers[3]:forward(h2)))
        end
        return springs.select(ds.reshape(x, {1, sys.n, 2}), 1, 1, 1, -1) + hsum * 0.01
      end)
      tape:backward(loss)
      local out = {}
      for i, p in ipairs(params) do out[i] = p.grad:tolist() end
      return out
    end
    local gf, gl = grads(true), grads(false)
    local checked = 0
    for i = 1, #gf do
      for j = 1, #gf[i] do
        assert.is_true(math.abs(gf[i][j] - gl[i][j]) < 1e-10 * (1 + math.abs(gl[i][j])))
        checked = checked + 1
      end
    end
    assert.is_true(checked > 300)
  end)
  it("nn_rollout refuses a network the fused MLP cannot run, naming itself", function()
    local sys = frame{dt = 4e-3}
    local n_in = sys:n_inputs{}
    -- an activation function set by hand: net:forward would run it, the kit cannot
    local net = ds.nn.mlp{sizes = {n_in, 8, sys.ns}, act = "tanh", out_act = "tanh"}
    net.act = ds.exp
    local ok, err = pcall(sys.nn_rollout, sys, 3, net)
    assert.is_false(ok)
    assert.matches("springs.nn_rollout: layer 1 of the net has an activation (a custom function) that the fused MLP " ..
                   "does not support", err, 1, true)
    net = ds.nn.mlp{sizes = {n_in, 8, sys.ns}, out_act = "tanh"}
    net.out_act = function(x) return ds.tanh(x) * 2 end
    ok, err = pcall(sys.nn_rollout, sys, 3, net)
    assert.is_false(ok)
    assert.matches("springs.nn_rollout: layer 2", err, 1, true)
    -- the wrong number of inputs or outputs
    ok, err = pcall(sys.nn_rollout, sys, 3, ds.nn.mlp{sizes = {n_in + 1, 8, sys.ns}})
    assert.is_false(ok)
    assert.matches("springs.nn_rollout: the network maps " .. (n_in + 1) .. " inputs", err, 1, true)
    -- straight at the kernel: an activation code the kit does not have, a weight count that does not fit
    local T = 3
    local named = nn_named(sys, T, {8}, {"tanh", "tanh"}, 1)
    local spec = named.spec:tolist()
    spec[#spec] = 9
    named.spec = ds.tensor(spec, "i32")
    named.w = {named.w} -- a named launch takes the weight list as a table
    ok, err = pcall(ds.kernel("springs.nn_rollout").launch, ds.kernel("springs.nn_rollout"),
                    springs.system_args(sys, named), nn_params(sys, T))
    assert.is_false(ok)
    assert.matches("springs.nn_rollout: argument 'spec' (#", err, 1, true)
    assert.matches("layer 2 has activation code 9, which the fused MLP does not support", err, 1, true)
    named = nn_named(sys, T, {8}, {"tanh", "tanh"}, 1)
    named.w = {ds.zeros{10}}
    ok, err = pcall(ds.kernel("springs.nn_rollout").launch, ds.kernel("springs.nn_rollout"),
                    springs.system_args(sys, named), nn_params(sys, T))
    assert.is_false(ok)
    assert.matches("springs.nn_rollout: argument 'w' (#", err, 1, true)
    assert.matches("one flat tensor must be {", err, 1, true)
    assert.matches("got 10 elements", err, 1, true)
    -- a per-layer list whose shapes do not fit the spec
    named.w = {ds.zeros{n_in, 8}, ds.zeros{8}, ds.zeros{7, sys.ns}, ds.zeros{sys.ns}}
    ok, err = pcall(ds.kernel("springs.nn_rollout").launch, ds.kernel("springs.nn_rollout"),
                    springs.system_args(sys, named), nn_params(sys, T))
    assert.is_false(ok)
    assert.matches("argument 'w' (#" .. #ds.kernel("springs.nn_rollout"):arg_names() .. "): layer 2 must be W {8, " ..
                   sys.ns .. "}", err, 1, true)
  end)
  it("nn_rollout still takes a plain {W1, b1, W2, b2} list (tanh/tanh)", function()
    local sys = frame{dt = 4e-3}
    local net = sys:controller{hidden = 6, seed = 2}
    local l = net.layers
    local a = sys:nn_rollout(8, net)
    local b = sys:nn_rollout(8, {l[1].W, l[1].b, l[2].W, l[2].b})
    assert.are.same(a:tolist(), b:tolist())
  end)
end)

describe("springs: time of impact", function()
  -- A ball with no gravity bounces elastically off y = 0.1; the final height
  -- falls as the start rises (dy_final/dy0 = -1). The naive integrator, which
  -- reflects only after the ball is below the ground, gets the sign wrong.
  local function dy(mode)
    local sys = springs.system{x = {{0.7, 0.5}}, v = {{-1, -2}}, springs = {}, dt = 2e-3, gravity = 0,
                               damping = 0, ground = {mode = mode, y = 0.1, restitution = 1, friction = 0}}
    local x0 = sys.x0:requires_grad()
    local tape = ds.tape()
    local y = tape:record(function() return springs.select(sys:rollout(204, {x0 = x0}), -1, 1, 2) end)
    tape:backward(y)
    return x0.grad:tolist()[2]
  end
  it("gives -1 with TOI and +1 with the naive integrator", function()
    assert.is_true(math.abs(dy("toi") + 1) < 1e-9)
    assert.is_true(math.abs(dy("naive") - 1) < 1e-9)
  end)
end)

describe("springs: bad input", function()
  local base = {x = {{0, 0}, {1, 0}, {0, 1}}, springs = {{1, 2}, {2, 3}}, stiffness = 10, dt = 1e-3}
  local function with(changes)
    local s = {}
    for k, v in pairs(base) do s[k] = v end
    for k, v in pairs(changes) do s[k] = v end
    return s
  end
  it("a spring referencing a missing mass", function()
    local ok, err = pcall(springs.system, with{springs = {{1, 2}, {2, 7}}})
    assert.is_false(ok)
    assert.matches("springs.topology", err, 1, true)
    assert.matches("argument 'springs'", err, 1, true)
    assert.matches("spring 2 references mass 7", err, 1, true)
  end)
  it("a negative mass", function()
    local ok, err = pcall(springs.system, with{mass = {1, -2, 1}})
    assert.is_false(ok)
    assert.matches("mass 2", err, 1, true)
    -- and straight at the kernel, with a hand-made inverse-mass tensor
    local sys = springs.system(base)
    local x, v = sys.x0, sys.v0
    local args = springs.system_args(sys, {x = x, v = v, act = sys.zero_act, x_out = ds.empty_like(x), v_out = ds.empty_like(v)})
    args.inv_mass = ds.tensor{1, -0.5, 1}
    ok, err = pcall(springs.kernels.step.launch, springs.kernels.step, args, springs.phys_params(sys))
    assert.is_false(ok)
    assert.matches("springs.step", err, 1, true)
    assert.matches("inv_mass", err, 1, true)
  end)
  it("a non-finite state", function()
    local sys = springs.system(base)
    local x = sys.x0:detach()
    x:set(4, 0 / 0)
    local ok, err = pcall(sys.step, sys, x, sys.v0)
    assert.is_false(ok)
    assert.matches("springs.step", err, 1, true)
    assert.matches("argument 'x'", err, 1, true)
    assert.matches("non-finite", err, 1, true)
    local v = sys.v0:detach()
    v:set(1, math.huge)
    ok, err = pcall(sys.rollout, sys, 10, {v0 = v})
    assert.is_false(ok)
    assert.matches("springs.rollout", err, 1, true)
    assert.matches("argument 'v0'", err, 1, true)
  end)
  it("a time step past the stability limit", function()
    local sys = springs.system(with{stiffness = 1e8, dt = 1e-2})
    local ok, err = pcall(sys.step, sys, sys.x0, sys.v0)
    assert.is_false(ok)
    assert.matches("stability limit", err, 1, true)
  end)
  it("wrong shapes and a foreign topology", function()
    local sys = springs.system(base)
    local ok, err = pcall(sys.step, sys, ds.zeros{4, 2}, ds.zeros{4, 2})
    assert.is_false(ok)
    assert.matches("springs.step", err, 1, true)
    local other = springs.system(with{springs = {{1, 2}, {2, 3}, {1, 3}}})
    local args = springs.system_args(sys, {x = sys.x0, v = sys.v0, act = sys.zero_act, x_out = ds.empty_like(sys.x0),
                                           v_out = ds.empty_like(sys.v0)})
    args.topo = other.topo
    ok, err = pcall(springs.kernels.step.launch, springs.kernels.step, args, springs.phys_params(sys))
    assert.is_false(ok)
    assert.matches("topo", err, 1, true)
    ok, err = pcall(springs.system, with{ground = {mode = "sideways"}})
    assert.is_false(ok)
    assert.matches("ground.mode", err, 1, true)
  end)
end)
