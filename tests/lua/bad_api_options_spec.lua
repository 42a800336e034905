-- Unknown option names are errors in every options table of the public API:
-- the message names the function, the unknown option and the valid names, and
-- its location is the caller's line (not a line inside the package).
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)

-- Calls f (not as a tail call, so the caller's line is this file's) and
-- returns the error message.
local function err_of(f)
  local ok, err = pcall(function() local r = f(); return r end)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function rejects(fn_name, bad, valid_one, f)
  local err = err_of(f)
  assert.matches(fn_name .. ": unknown option '" .. bad .. "'", err, 1, true)
  assert.matches(valid_one, err, 1, true)
  -- located at the caller: this spec file, never a file of the package
  assert.matches("bad_api_options_spec.lua:%d+: ", err)
  assert.is_nil(err:find("lua/diffsim/", 1, true), err)
end

describe("unknown options", function()
  local x = ds.zeros{3}:requires_grad()

  it("optimizers", function()
    rejects("ds.optim.adam", "learning_rate", "valid: betas, eps, lr, weight_decay",
      function() return ds.optim.adam({x}, {learning_rate = 0.1}) end)
    rejects("ds.optim.adamw", "beta1", "lr", function() return ds.optim.adamw({x}, {beta1 = 0.9}) end)
    rejects("ds.optim.sgd", "nesterov", "momentum", function() return ds.optim.sgd({x}, {nesterov = true}) end)
    rejects("ds.optim.gd", "weight_decay", "normalize", function() return ds.optim.gd({x}, {weight_decay = 1}) end)
    rejects("ds.optim.lbfgs", "max_iters", "max_iter", function() return ds.optim.lbfgs({x}, {max_iters = 3}) end)
    rejects("ds.optim.lbfgs", "line_search_fn", "max_ls",
      function() return ds.optim.lbfgs({x}, {line_search_fn = "strong_wolfe"}) end)
  end)

  it("networks", function()
    rejects("ds.nn.linear", "bias", "bias_uniform", function() return ds.nn.linear(2, 3, {bias = false}) end)
    rejects("ds.nn.mlp", "activation", "act", function() return ds.nn.mlp{sizes = {2, 3}, activation = "relu"} end)
    rejects("ds.nn.mlp", "hidden", "sizes", function() return ds.nn.mlp{sizes = {2, 3}, hidden = 8} end)
  end)

  it("losses", function()
    rejects("ds.loss.mse", "reduce", "reduction", function() return ds.loss.mse(x, x, {reduce = "sum"}) end)
    rejects("ds.loss.sse", "weight", "none", function() return ds.loss.sse(x, x, {weight = 2}) end)
    rejects("ds.loss.l2", "p", "none", function() return ds.loss.l2(x, x, {p = 1}) end)
  end)

  it("files and pictures", function()
    local img = ds.zeros{4, 4}
    rejects("ds.io.read_png", "channels", "channel", function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {channels = 1}) end)
    rejects("ds.io.write_png", "normalize", "symmetric",
      function() return ds.io.write_png(tmp .. "/a.png", img, {normalize = true}) end)
    rejects("ds.io.write_gif", "fps", "delay", function() return ds.io.write_gif(tmp .. "/a.gif", {img}, {fps = 10}) end)
    rejects("ds.io.write_csv", "sep", "nan", function() return ds.io.write_csv(tmp .. "/a.csv", {"a"}, {{1}}, {sep = ";"}) end)
    rejects("ds.io.plot_png", "logscale", "log",
      function() return ds.io.plot_png(tmp .. "/p.png", {1, 2}, {logscale = true}) end)
  end)

  it("benchmarks", function()
    rejects("ds.bench.time_iter", "repeats", "reps",
      function() return ds.bench.time_iter({x}, function() return ds.sum(x) end, {repeats = 2}) end)
  end)

  it("cli.parse specs", function()
    local cli = require("diffsim.cli")
    local err = err_of(function() return cli.parse({}, {name = "t", iter = 3}) end)
    assert.matches("cli.parse: unknown spec key 'iter'", err, 1, true)
    assert.matches("iters", err, 1, true)
    err = err_of(function() return cli.parse({}, {name = "t", flags = {lr = 1}, checks = {rate = {gt = 0}}}) end)
    assert.matches("cli.parse: checks name an unknown flag 'rate'", err, 1, true)
    err = err_of(function() return cli.parse({}, {name = "t", flags = {lr = 1}, checks = {lr = {positive = true}}}) end)
    assert.matches("unknown check 'positive'", err, 1, true)
    -- every script flag needs a one-line help text
    err = err_of(function() return cli.parse({}, {name = "t", script = "scripts/t.lua", flags = {lr = 1, max_cg = 2},
      checks = {lr = {gt = 0, help = "learning rate"}}}) end)
    assert.matches("cli.parse: scripts/t.lua: flag --max-cg has no help text", err, 1, true)
    err = err_of(function() return cli.parse({}, {name = "t", flags = {lr = 1}, checks = {lr = {help = "  "}}}) end)
    assert.matches("cli.parse: t: flag --lr has no help text", err, 1, true)
  end)

  it("options must be a table of names", function()
    local err = err_of(function() return ds.optim.adam({x}, 0.1) end)
    assert.matches("ds.optim.adam: options must be a table of named options", err, 1, true)
    err = err_of(function() return ds.optim.sgd({x}, {0.1}) end)
    assert.matches("ds.optim.sgd: options are named", err, 1, true)
    err = err_of(function() return ds.io.write_png(tmp .. "/b.png", ds.zeros{2, 2}, ds.zeros{2}) end)
    assert.matches("ds.io.write_png: options must be a table of named options", err, 1, true)
  end)

  it("the shared helper is ds.check_options", function()
    assert.are.equal("function", type(ds.check_options))
    local err = err_of(function() return ds.check_options("my.fn", {colour = 1}, {"color"}) end)
    assert.matches("my.fn: unknown option 'colour' (valid: color)", err, 1, true)
    assert.are.same({color = 2}, ds.check_options("my.fn", {color = 2}, {"color"}))
    assert.are.same({}, ds.check_options("my.fn", nil, {"color"}))
  end)
end)
