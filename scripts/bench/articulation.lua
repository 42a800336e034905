-- articulation vs MuJoCo, side by side in one run (the peer check's speed half).
--   diffsim scripts/bench/articulation.lua [--steps 1000] [--reps 5] [--precision f64]
--
-- For each model (scenes/articulation/*.xml, loaded by both engines from the
-- same file, same step):
--   forward   steps per second of a T-step rollout: MuJoCo's mj_step loop (C,
--             through the shim) and diffsim's fused rollout kernel (B = 1)
--   gradient  the gradient of J = w . q_T (+ w . qd_T) with respect to the
--             initial q, qd and the T x nu controls: diffsim's tape (rollout
--             forward + adjoint) against MuJoCo finite differences, both the
--             brute-force kind (2 (2 nv + T nu) rollouts) and MuJoCo's
--             cheapest (per-step mjd_transitionFD Jacobians chained backward)
-- --adjoint tape (or dual) times the reverse-mode tape (or dual-number)
-- adjoint, the earlier paths, instead of the analytic one.
-- Lines: "case <model> forward mujoco_sps X diffsim_sps Y ratio R" and
-- "case <model> gradient diffsim_ms X mujoco_fd_ms Y mujoco_transition_ms Z
-- speedup_fd A speedup_transition B", then "result ..." lines. The gradients of
-- both engines are compared too (dJ/dqd0 and dJ/dctrl; contact-free models
-- only: after contact the engines' models differ). Picture: <out>/
-- articulation_peer.png, the box's height and chain5's last angle in both.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/articulation.lua", name = "bench_articulation", out = "out/bench",
                                precision = "f64",
                                flags = {steps = 1000, reps = 5, gsteps = 200, batch = 64, adjoint = "analytic"},
                                checks = {steps = {help = "rollout length of the forward timing"},
                                          reps = {help = "timed repetitions (the median is reported)"},
                                          gsteps = {help = "rollout length of the gradient timing"},
                                          batch = {help = "copies in the batched forward case"},
                                          adjoint = {"analytic", "tape", "reverse", "dual",
                                             help = "the rollout's adjoint: analytic (hand-written reverse), tape (reverse-mode tape; reverse is its old name) or dual (numbers)"}}})
local mj, why = require("plugins.articulation.mujoco.peer").open()
if not mj then
  print("skip: " .. why)
  return
end
local art = ds.plugin("articulation")
local mjcf = require("diffsim.io.mjcf")
local ffi = require("ffi")
local bench = ds.bench

local function median_ms(fn, reps)
  return bench.time(fn, reps)
end

local results = {}
for _, name in ipairs({"chain5", "mixed", "legged"}) do
  local path = "scenes/articulation/" .. name .. ".xml"
  local model = art.model(mjcf.load(path))
  model.adjoint = opt.adjoint
  local m = mj.load_file(path)
  local T = opt.steps
  local q0 = {}
  for i = 1, model.nq do q0[i] = model.q0[i] end
  if name == "chain5" then for i = 1, model.nq do q0[i] = 0.4 * (-1) ^ i end end
  local nu = model.nactuators
  m:set_ctrl({})                                -- zero controls for the forward timings
  -- forward
  local mj_ms = median_ms(function()
    m:set_state(q0, nil)
    m:rollout_raw(T, nil)
  end, opt.reps)
  local q, qd = model:initial(1, q0)
  local ctrl0 = ds.zeros{T, 1, model.nu}
  local ds_ms = ds.no_grad(function()
    return median_ms(function() model:rollout(ctrl0, q, qd) end, opt.reps)
  end)
  local mj_sps, ds_sps = T / (mj_ms / 1e3), T / (ds_ms / 1e3)
  print(string.format("case %s forward steps %d mujoco_sps %.0f diffsim_sps %.0f ratio %.2f", name, T, mj_sps, ds_sps,
                      mj_sps / ds_sps))
  -- batched: B copies in one diffsim launch against B MuJoCo rollouts in turn
  -- (model steps per second; diffsim's threads as given by --threads)
  local B, TB = opt.batch, math.max(1, math.floor(T / 10))
  local mjb_ms = median_ms(function()
    for _ = 1, B do
      m:set_state(q0, nil)
      m:rollout_raw(TB, nil)
    end
  end, opt.reps)
  local qb, qdb = model:initial(B, q0)
  local ctrlb = ds.zeros{TB, B, model.nu}
  local dsb_ms = ds.no_grad(function()
    return median_ms(function() model:rollout(ctrlb, qb, qdb) end, opt.reps)
  end)
  print(string.format("case %s forward_batch copies %d steps %d mujoco_sps %.0f diffsim_sps %.0f ratio %.2f threads %d", name,
                      B, TB, B * TB / (mjb_ms / 1e3), B * TB / (dsb_ms / 1e3), dsb_ms / mjb_ms, ds.threads()))
  -- gradient of J = w . q_T over a gsteps rollout
  local G = opt.gsteps
  local wq, wv = {}, {}
  for i = 1, model.nq do wq[i] = 0 end
  for i = 1, model.nv do wv[i] = 0 end
  if name == "chain5" then wq[model.nq] = 1 elseif name == "mixed" then wq[1] = 1; wq[2] = 1; wq[9] = 1 else wq[1] = 1; wq[3] = 1 end
  local u = {}
  for i = 1, G * nu do u[i] = 0.1 * math.sin(i) end
  local q0t = ds.tensor({q0}):requires_grad()
  local qd0t = ds.zeros{1, model.nv}:requires_grad()
  local rows = {}
  for t = 1, G do
    local r = {}
    for k = 1, model.nu do r[k] = nu > 0 and u[(t - 1) * nu + k] or 0 end
    rows[t] = {r}
  end
  local ct = ds.tensor(rows):requires_grad()
  local w = ds.tensor({wq})
  local params = {q0t, qd0t, ct}
  local fwd_ms, bwd_ms = bench.time_iter(params, function()
    local qs = model:rollout(ct, q0t, qd0t)
    local last = ds.reshape(ds.slice_rows(ds.reshape(qs, {G + 1, model.nq}), G + 1, 1), {1, model.nq})
    return ds.sum(ds.mul(last, w))
  end, {reps = opt.reps})
  local grad_ms = fwd_ms + bwd_ms
  local J, gq, gv, gu
  local fd_ms = median_ms(function() J, gq, gv, gu = m:fd_rollout(q0, nil, u, G, wq, wv, 1e-6) end, math.max(1, math.floor(opt.reps / 2)))
  local tr_ms = median_ms(function() m:fd_transition(q0, nil, u, G, wq, wv, 1e-6) end, math.max(1, math.floor(opt.reps / 2)))
  -- the two engines' gradients of the same quantity (hinge coordinates: the
  -- same tangent; diffsim's qd gradient is compared, as q0's tangent differs
  -- for a free joint's quaternion)
  local gds = qd0t.grad:totable()[1]
  local worst = 0
  for i = 1, model.nv do worst = math.max(worst, math.abs(gds[i] - gv[i])) end
  if nu > 0 then
    local gc = ct.grad:totable()
    for t = 1, G do
      for k = 1, nu do worst = math.max(worst, math.abs(gc[t][1][k] - gu[(t - 1) * nu + k])) end
    end
  end
  print(string.format("case %s gradient steps %d inputs %d diffsim_ms %.2f (forward %.2f backward %.2f) mujoco_fd_ms %.2f "
                      .. "mujoco_transition_ms %.2f speedup_fd %.1f speedup_transition %.1f max_grad_diff %.2g%s", name, G,
                      2 * model.nv + G * nu, grad_ms, fwd_ms, bwd_ms, fd_ms, tr_ms, fd_ms / grad_ms, tr_ms / grad_ms, worst,
                      ""))
  io.stdout:flush()
  results[#results + 1] = {name = name, ratio = mj_sps / ds_sps, speedup = fd_ms / grad_ms, speedup_tr = tr_ms / grad_ms,
                           grad_diff = worst}
end

-- The picture: both engines' trajectories of the same file.
local function traj(name, T, q0, idx)
  local path = "scenes/articulation/" .. name .. ".xml"
  local model = art.model(mjcf.load(path))
  local m = mj.load_file(path)
  q0 = q0 or model.q0
  m:set_state(q0, nil)
  local Q = m:rollout(T)
  local q, qd = model:initial(1, q0)
  local D = ds.no_grad(function() return model:rollout(T, q, qd) end):totable()
  local x, a, b = {}, {}, {}
  for t = 1, T do x[t] = t * model.dt; a[t] = Q[t][idx]; b[t] = D[t + 1][1][idx] end
  return x, a, b
end
ds.io.mkdir(opt.out)
local x1, a1, b1 = traj("box_drop", 1500, nil, 3)
local x2, a2, b2 = traj("chain5", 1500, {0.4, -0.4, 0.4, -0.4, 0.4}, 5)
local png = opt.out .. "/articulation_peer.png"
ds.io.plot(png, {{x = x1, y = a1, label = "box z, MuJoCo"}, {x = x1, y = b1, label = "box z, diffsim"},
                 {x = x2, y = a2, label = "chain5 q5, MuJoCo"}, {x = x2, y = b2, label = "chain5 q5, diffsim"}},
           {title = "The same MJCF files in MuJoCo " .. mj.version .. " and diffsim (chain5: the curves coincide)", xlabel = "time (s)",
            ylabel = "height (m) / angle (rad)", width = 800, height = 480})
print("wrote " .. png)
for _, r in ipairs(results) do
  print(string.format("result %s_forward_mujoco_over_diffsim %.3f", r.name, r.ratio))
  print(string.format("result %s_gradient_speedup_over_fd %.2f", r.name, r.speedup))
  print(string.format("result %s_gradient_speedup_over_transition_fd %.2f", r.name, r.speedup_tr))
  print(string.format("result %s_gradient_max_diff_vs_mujoco_fd %.3g", r.name, r.grad_diff))
end
