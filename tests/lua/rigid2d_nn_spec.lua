-- rigid2d.box_nn_rollout: float64 finite-difference checks of the fused network
-- controller + box physics (weights, initial state and physical inputs, with every
-- output -- states, hidden activations, actuation -- in the checked loss), and the
-- kernel's errors.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local rigid2d = ds.plugin("rigid2d")

-- Two boxes joined by two actuated springs, box 1 sliding into the ground while
-- box 2 is in the air: contact with friction, springs and the network all act.
-- (No joint: a joint drives |v_rel| to its kink at 0, where central differences
-- over a rollout mean nothing; box_step's own check covers joints.)
local function pair()
  return rigid2d.boxes{
    bodies = {{x = {0.3, 0.16}, halfsize = {0.05, 0.04}, rotation = 0.3, v = {0.4, -1.5}, omega = 0.7},
              {x = {0.45, 0.3}, halfsize = {0.04, 0.03}, rotation = -0.2, v = {-0.1, 0.2}, omega = -0.4}},
    springs = {{1, 2, {0.03, 0.02}, {-0.02, 0.01}, rest = 0.12, k = 50, amp = 0.2},
               {1, 2, {0.05, 0.04}, {-0.04, -0.03}, rest = 0.15, k = 30, amp = 0.3}},
    density = 1.3, gravity = -9.8, damping = 2, friction = 0.4, restitution = 0.3, ground_y = 0.1, dt = 2e-3,
    head = 2,
  }
end

local function params(sys, T)
  local p = {steps = T, t0 = 5, n_sin = 4, omega = 30, input_scale = 0.5, head = 1, goal_x = 0.9, goal_y = 0.15}
  for k, v in pairs(sys.params) do p[k] = v end
  return p
end

-- The kernel's positional arguments: the system's tensors (0-dim tensors for the
-- physical numbers), then the weights as the list's tensors.
local function args_of(sys, named, weights)
  local a = sys:args(named)
  for _, k in ipairs{"density", "gravity", "damping", "friction", "restitution"} do
    if not ds.is_tensor(a[k]) then a[k] = ds.tensor(a[k]) end
  end
  local out = {}
  for _, name in ipairs(ds.kernel("rigid2d.box_nn_rollout"):arg_names()) do
    if name ~= "w" then
      assert(a[name] ~= nil, "no value for " .. name)
      out[#out + 1] = a[name]:detach()
    end
  end
  for _, w in ipairs(weights) do out[#out + 1] = w:detach() end
  return out
end

local function named(sys, T, hidden)
  local H = 0
  for _, h in ipairs(hidden) do H = H + h end
  return {state = sys.state0, spec = nil, states = ds.empty{T + 1, sys.n, 6}, hidden = ds.empty{T, H},
          acts = ds.empty{T, sys.ns}}
end

describe("rigid2d.box_nn_rollout: gradients (float64 central differences)", function()
  -- relu/sin runs 5 steps: with these weights its closed loop is chaotic (the
  -- unsaturated relu -> sin controller pumps box 2's spin; a perturbation grows
  -- ~10x per step), so over 25 steps no eps resolves the derivative; see below and
  -- docs/rigid2d.md. 5 steps still go through the contact (steps 1-3).
  local cases = {
    {hidden = {8}, acts = {"tanh", "tanh"}, list = true},
    {hidden = {6, 5}, acts = {"tanh", "sin", "tanh"}, list = false},
    {hidden = {6}, acts = {"relu", "tanh"}, list = false},
    {hidden = {6}, acts = {"relu", "sin"}, list = false, T = 5},
    {hidden = {}, acts = {"tanh"}, list = true},
  }
  for _, case in ipairs(cases) do
    local label = table.concat(case.acts, "/") .. (case.list and ", per-layer list" or ", one flat tensor")
    it((case.T or 25) .. " steps through a contact, " .. label, function()
      local sys, T = pair(), case.T or 25
      local opts = {n_sin = 4}
      local sizes = {sys:n_inputs(opts)}
      for _, h in ipairs(case.hidden) do sizes[#sizes + 1] = h end
      sizes[#sizes + 1] = sys.ns
      local net = ds.nn.mlp{sizes = sizes, act = case.acts[1], out_act = case.acts[#case.acts], seed = 3, std = 0.5}
      -- ds.nn.mlp takes one hidden activation: the 3-layer case sets its layers' own
      local spec = ds.kit.mlp_spec(sizes, case.acts)
      local w = case.list and net:parameters() or {ds.kit.flatten(net:parameters())}
      local a = named(sys, T, case.hidden)
      a.spec = spec
      local ok, rep = ds.gradcheck_kernel("rigid2d.box_nn_rollout", args_of(sys, a, w), params(sys, T),
                                          {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 48})
      print(string.format("box_nn_rollout %s: %d checked, max abs err %.2e, max rel err %.2e", label, rep.checked,
        rep.max_abs_err, rep.max_rel_err))
      assert(ok, rep.message)
      -- contact really acted: box 1's vertical velocity rose although gravity pulls it down
      local s = sys:rollout(0):totable() -- (the initial state)
      local ok2, states = pcall(function() return sys:nn_rollout(3, net, opts) end)
      if ok2 and #case.hidden == 1 then
        local s3 = states:totable()
        assert.is_true(s3[4][1][5] > s[1][1][5] + 0.1, "no contact impulse: vy " .. s[1][1][5] .. " -> " .. s3[4][1][5])
      end
    end)
  end
end)

-- Why relu/sin is checked over 5 steps only: its gradient is exact but the closed
-- loop is chaotic. d(final positions)/d x0 of box 2 grows from O(1) at 5 steps to
-- ~700 at 10 (relu/tanh stays O(1)); the central difference converges to the
-- analytic value only as eps shrinks (error ~ eps^2: a smooth function of enormous
-- curvature, no kink), at 1e-9 and not at the spec's 1e-6.
describe("rigid2d.box_nn_rollout: relu/sin is exact but chaotic", function()
  local function grad_and_fd(T, acts, eps_list)
    local sys = pair()
    local opts = {n_sin = 4, omega = 30, input_scale = 0.5, head = 2, goal = {0.9, 0.15}, t0 = 5}
    local net = ds.nn.mlp{sizes = {sys:n_inputs(opts), 6, sys.ns}, act = acts[1], out_act = acts[2], seed = 3, std = 0.5}
    local wt = ds.zeros{T + 1, 2, 6}
    for _, e in ipairs{0, 1, 6, 7} do ds.C.ds_tensor_set(wt.p, 12 * T + e, 1) end
    local function loss(x)
      opts.state0 = x
      return ds.dot(sys:nn_rollout(T, net, opts), wt)
    end
    local x = sys.state0:detach()
    x:requires_grad()
    local tape = ds.tape()
    tape:backward(tape:record(loss, x))
    local ana, fd = ds.C.ds_tensor_get(x.grad.p, 6), {}
    for i, eps in ipairs(eps_list) do
      local xp, xm = sys.state0:detach(), sys.state0:detach()
      ds.C.ds_tensor_set(xp.p, 6, ds.C.ds_tensor_get(xp.p, 6) + eps)
      ds.C.ds_tensor_set(xm.p, 6, ds.C.ds_tensor_get(xm.p, 6) - eps)
      fd[i] = ds.no_grad(function() return (loss(xp):item() - loss(xm):item()) / (2 * eps) end)
    end
    return ana, fd
  end
  it("10 steps: grows 100x over relu/tanh, and differences converge to it only at eps 1e-9", function()
    local ana, fd = grad_and_fd(10, {"relu", "sin"}, {1e-6, 1e-9})
    local calm = grad_and_fd(10, {"relu", "tanh"}, {})
    print(string.format("relu/sin 10 steps: analytic %.6e, central eps 1e-6 %.6e, eps 1e-9 %.6e; relu/tanh %.3e",
      ana, fd[1], fd[2], calm))
    assert.is_true(math.abs(ana) > 100 * math.abs(calm), "no growth: " .. ana .. " vs " .. calm)
    assert.is_true(math.abs(fd[1] - ana) > 0.1 * math.abs(ana), "eps 1e-6 already resolves it: " .. fd[1])
    assert.is_true(math.abs(fd[2] - ana) < 1e-4 * math.abs(ana), "eps 1e-9: " .. fd[2] .. " vs " .. ana)
  end)
end)

-- The Leg robot (7 bodies, 6 springs, 6 joints, feet on the ground from the start):
-- its training loss (the foot's distance to the goal) against central differences
-- in first-layer weights, with and without time of impact. (Over 2047 steps the
-- differences still agree at eps 1e-5, but eps 1e-4 steps over contact events.)
describe("rigid2d.box_nn_rollout: the Leg robot's loss", function()
  local robots = require("scenes.rigid_robots")
  for _, toi in ipairs{true, false} do
    it("300 steps, " .. (toi and "TOI" or "naive"), function()
      local sys = rigid2d.boxes(robots.get(2, {toi = toi}))
      local net = sys:controller{hidden = 32, seed = 0}
      local W1 = net:parameters()[1]
      local ok, rep = ds.gradcheck(function(w)
        local states = sys:nn_rollout(300, net, {goal = robots.goal})
        local dx = rigid2d.select(states, -1, sys.head, 1) - robots.goal[1]
        local dy = rigid2d.select(states, -1, sys.head, 2) - robots.goal[2]
        return ds.sqrt(ds.square(dx) + ds.square(dy))
      -- atol: a central difference at eps 1e-6 of an O(1) loss carries ~1e-16 / 1e-6 = 1e-10 of
      -- rounding (more once contact amplifies it), against gradients of ~1e-3
      end, {W1}, {eps = 1e-6, rtol = 1e-4, atol = 1e-9, max_elems = 10})
      print(string.format("Leg robot, 300 steps, %s: %d checked, max abs err %.2e, max rel err %.2e",
        toi and "TOI" or "naive", rep.checked, rep.max_abs_err, rep.max_rel_err))
      assert(ok, rep.message)
    end)
  end
end)

describe("rigid2d.box_nn_rollout: Lua front end and errors", function()
  it("matches box_rollout driven by the actuation it reports", function()
    local sys = pair()
    local net = sys:controller{hidden = 8, seed = 1}
    local states, _, acts = sys:nn_rollout(20, net, {goal = {0.9, 0.15}})
    local again = sys:rollout(20, {acts = acts})
    local a, b = states:totable(), again:totable()
    for t = 1, 21 do for i = 1, 2 do for d = 1, 6 do assert.are.equal(a[t][i][d], b[t][i][d]) end end end
  end)
  local function err_of(f)
    local ok, e = pcall(f)
    assert.is_false(ok)
    return tostring(e)
  end
  it("names the kernel and argument", function()
    local sys = pair()
    local net = ds.nn.mlp{sizes = {sys:n_inputs() + 1, 4, sys.ns}, act = "tanh", seed = 1}
    local e = err_of(function() sys:nn_rollout(5, net) end)
    assert.truthy(e:find("nn_rollout", 1, true) and e:find("inputs", 1, true), e)
    net = sys:controller{hidden = 4}
    e = err_of(function() sys:nn_rollout(5, net, {head = 3}) end)
    assert.truthy(e:find("head", 1, true), e)
    net:parameters()[1]:data()[0] = 0 / 0
    net:parameters()[1]:touch()
    e = err_of(function() sys:nn_rollout(5, net) end)
    assert.truthy(e:find("rigid2d.box_nn_rollout", 1, true) and e:find("'w'", 1, true), e)
  end)
end)
