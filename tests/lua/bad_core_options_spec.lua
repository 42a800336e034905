-- Unknown option names are errors naming the function and the option.
local probe = require("probe")
local P = probe.prelude

describe("unknown options", function()
  local cases = {
    {'local ds = require("diffsim"); ds.init{precison = "f64"}', "ds.init: unknown option 'precison' (valid: anomaly, precision, threads)"},
    {'local ds = require("diffsim"); ds.init{thread = 2}', "ds.init: unknown option 'thread'"},
    {'local ds = require("diffsim"); ds.init("f64")', "ds.init: options must be a table of named options (valid: anomaly, precision, threads), got string"},
    {'local ds = require("diffsim"); ds.init{anomaly = 1}', "ds.init: anomaly must be true or false"},
    {P .. "ds.zeros({2}, {dtyp = 'i32'})", "ds.zeros: unknown option 'dtyp' (valid: device, dtype)"},
    {P .. "ds.empty({2}, {device = 'cpu', foo = 1})", "ds.empty: unknown option 'foo'"},
    {P .. "ds.ones({2}, {seed = 1})", "ds.ones: unknown option 'seed'"},
    {P .. "ds.full({2}, 1, {fill = 1})", "ds.full: unknown option 'fill'"},
    {P .. "ds.tensor({1}, {dtype = 'real', grad = true})", "ds.tensor: unknown option 'grad'"},
    {P .. "ds.randn({2}, {seed = 1, mean = 0})", "ds.randn: unknown option 'mean' (valid: device, dtype, seed, std)"},
    {P .. "ds.rand({2}, {seed = 1, high = 2})", "ds.rand: unknown option 'high' (valid: device, dtype, hi, lo, seed)"},
    {P .. "local t = ds.tape(); local l = t:record(function() return ds.sum(ds.tensor{1}:requires_grad()) end); t:backward(l, {retain_graph = true})",
     "tape:backward: unknown option 'retain_graph' (valid: retain)"},
    {P .. "ds.gradcheck(function(x) return ds.sum(x) end, {ds.tensor{1}}, {epsilon = 1e-6})",
     "ds.gradcheck: unknown option 'epsilon' (valid: atol, eps, max_elems, rtol)"},
    {P .. "ds.gradcheck(function(x) return ds.sum(x) end, {ds.tensor{1}}, {eps = -1})",
     "ds.gradcheck: option 'eps' must be a positive number, got -1"},
    {P .. "ds.gradcheck_kernel('core.tanh', {ds.tensor{1}, ds.empty{1}}, nil, {tol = 1})",
     "ds.gradcheck_kernel: unknown option 'tol'"},
  }
  for _, c in ipairs(cases) do
    it(c[1]:gsub("^.-\n", ""), function() probe.fails_cleanly(c[1], c[2]) end)
  end
end)
