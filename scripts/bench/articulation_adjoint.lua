-- articulation: the rollout's three adjoints side by side in one run: the
-- analytic one (the default, model.adjoint = "analytic"), the reverse-mode
-- tape ("tape") and the dual-number directions ("dual"). The modes alternate
-- within each repetition and the best of --reps is kept (a shared machine's
-- waits only ever add time).
--   diffsim scripts/bench/articulation_adjoint.lua [--steps 200] [--reps 5] [--threads 1]
-- Gradient of J = sum(w . qs) with respect to q0, qd0 and every control, B = 1.
-- Lines: "case <model> inputs N forward_us_step F backward_dual_us_step D
-- backward_reverse_us_step R backward_analytic_us_step A speedup S
-- analytic_speedup_over_tape X analytic_backward_over_forward Y" (reverse: the
-- tape), then "result <model>_adjoint_speedup S" (dual over tape),
-- "result <model>_analytic_speedup_over_tape X" and
-- "result <model>_analytic_backward_over_forward Y".
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/articulation_adjoint.lua", name = "bench_articulation_adjoint",
                                out = "out/bench", precision = "f64", flags = {steps = 200, reps = 5},
                                checks = {steps = {int = true, ge = 1, help = "rollout length"},
                                          reps = {int = true, ge = 1, help = "timed repetitions (the best is kept)"}}})
local art = ds.plugin("articulation")
local scenes = dofile("scenes/articulation_models.lua")

local cases = {{"pendulum", scenes.pendulum()}, {"chain5", scenes.chain(5)}, {"chain20", scenes.chain(20)},
               {"walker", scenes.walker()}, {"zoo", scenes.zoo()}}
local results = {}
for _, case in ipairs(cases) do
  local name, model = case[1], art.model(case[2])
  local T = opt.steps
  local q, qd = model:initial(1)
  local q0 = q:detach():requires_grad()
  local qd0 = (qd + 0.1):detach():requires_grad()
  local ctrl = (ds.randn({T, 1, model.nu}, 1) * 0.1):requires_grad()
  local w = ds.randn({T + 1, 1, model.nq}, 2)
  local tape = ds.tape()
  local best = {dual = math.huge, tape = math.huge, analytic = math.huge, forward = math.huge}
  for r = 1, opt.reps + 1 do
    for _, mode in ipairs{"dual", "tape", "analytic"} do
      model.adjoint = mode
      for _, p in ipairs{q0, qd0, ctrl} do p:zero_grad() end
      local t0 = ds.now()
      local loss = tape:record(function() return ds.sum(model:rollout(ctrl, q0, qd0) * w) end)
      local t1 = ds.now()
      tape:backward(loss)
      local t2 = ds.now()
      if r > 1 then
        best.forward = math.min(best.forward, t1 - t0)
        best[mode] = math.min(best[mode], t2 - t1)
      end
    end
  end
  local us = function(s) return s * 1e6 / T end
  local inputs = model.nq + model.nv + T * model.nu
  print(string.format("case %s nv %d inputs %d forward_us_step %.2f backward_dual_us_step %.2f "
                      .. "backward_reverse_us_step %.2f backward_analytic_us_step %.2f speedup %.1f "
                      .. "analytic_speedup_over_tape %.1f analytic_backward_over_forward %.2f", name, model.nv, inputs,
                      us(best.forward), us(best.dual), us(best.tape), us(best.analytic), best.dual / best.tape,
                      best.tape / best.analytic, best.analytic / best.forward))
  io.stdout:flush()
  results[#results + 1] = {name, best.dual / best.tape, best.tape / best.analytic, best.analytic / best.forward}
end
for _, r in ipairs(results) do
  print(string.format("result %s_adjoint_speedup %.2f", r[1], r[2]))
  print(string.format("result %s_analytic_speedup_over_tape %.2f", r[1], r[3]))
  print(string.format("result %s_analytic_backward_over_forward %.2f", r[1], r[4]))
end
