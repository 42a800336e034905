-- Neural-network layers for controllers: linear and multi-layer perceptrons.
--   local net = ds.nn.mlp{sizes = {n_in, 32, n_out}, act = "tanh", out_act = "tanh", seed = 0}
--   local y = net:forward(x)       -- x: {n_in} or {batch, n_in}
--   opt = ds.optim.adam(net:parameters(), {lr = 1e-3})
--
-- Options are checked (unknown names and bad values are errors naming the
-- function and the option): linear {std, uniform, bias_uniform, seed};
-- mlp {sizes, act, out_act, seed, std, uniform, bias_uniform}.
return function(ds)
  local V = ds.view
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local nn = {}

  local Linear = {}
  Linear.__index = Linear

  -- opts.std: weights ~ N(0, std^2) (default: Glorot-style sqrt(2 / (n_in + n_out)));
  -- opts.uniform: weights ~ U(-u, u) instead; biases start at 0, or
  -- ~ U(-bias_uniform, bias_uniform).
  local LINEAR_OPTS = {"std", "uniform", "bias_uniform", "seed"}
  local MAX_SIZE = 2^31 - 1
  local function linear(who, n_in, n_out, opts)
    O.number(who, "n_in", n_in, nil, {int = true, ge = 1, le = MAX_SIZE, arg = true})
    O.number(who, "n_out", n_out, nil, {int = true, ge = 1, le = MAX_SIZE, arg = true})
    opts = O.check(who, opts, LINEAR_OPTS)
    local seed = O.number(who, "seed", opts.seed, 0, {int = true, ge = 0})
    if opts.std ~= nil and opts.uniform ~= nil then raise(who .. ": options 'std' and 'uniform' exclude each other") end
    local W
    if opts.uniform ~= nil then
      local u = O.number(who, "uniform", opts.uniform, nil, {gt = 0})
      W = ds.rand({n_in, n_out}, seed, -u, u)
    else
      W = ds.randn({n_in, n_out}, seed, O.number(who, "std", opts.std, math.sqrt(2 / (n_in + n_out)), {ge = 0}))
    end
    local b
    if opts.bias_uniform ~= nil then
      local u = O.number(who, "bias_uniform", opts.bias_uniform, nil, {gt = 0})
      b = ds.rand({n_out}, seed + 7919, -u, u)
    else
      b = ds.zeros{n_out}
    end
    return setmetatable({W = W:requires_grad(), b = b:requires_grad(), n_in = n_in, n_out = n_out}, Linear)
  end
  function nn.linear(n_in, n_out, opts) return linear("ds.nn.linear", n_in, n_out, opts) end

  function Linear:forward(x)
    if getmetatable(self) ~= Linear then raise("linear:forward: call it as a method (layer:forward(x))") end
    if not ds.is_tensor(x) then raise("linear:forward: argument 'x' must be a tensor, got " .. O.describe(x)) end
    if x.ptr == nil then raise("linear:forward: argument 'x' has been freed") end
    local shape = x:shape()
    if (#shape ~= 1 and #shape ~= 2) or shape[#shape] ~= self.n_in then
      raise(string.format("linear:forward: argument 'x' must have shape {%d} or {batch, %d}, got {%s}", self.n_in,
        self.n_in, table.concat(shape, ", ")))
    end
    if V(x).ndim == 1 then
      return ds.reshape(ds.add_row(ds.matmul(ds.reshape(x, {1, self.n_in}), self.W), self.b), {self.n_out})
    end
    return ds.add_row(ds.matmul(x, self.W), self.b)
  end
  function Linear:parameters()
    if getmetatable(self) ~= Linear then raise("linear:parameters: call it as a method (layer:parameters())") end
    return {self.W, self.b}
  end

  local acts = {tanh = ds.tanh, relu = ds.relu, sigmoid = ds.sigmoid, sin = ds.sin,
                identity = function(x) return x end, none = function(x) return x end}

  local MLP = {}
  MLP.__index = MLP

  -- opts: sizes (list), act ("tanh" | "relu" | "sigmoid" | "sin" | "identity" | "none"),
  -- out_act (default none), seed, std (list per layer or number), uniform (number),
  -- bias_uniform (number)
  local MLP_OPTS = {"sizes", "act", "out_act", "seed", "std", "uniform", "bias_uniform"}
  local ACT_NAMES = {"identity", "none", "relu", "sigmoid", "sin", "tanh"}
  function nn.mlp(opts)
    local who = "ds.nn.mlp"
    if type(opts) ~= "table" or getmetatable(opts) ~= nil then
      raise(who .. ": expected an options table {sizes = {in, hidden..., out}, ...}, got " .. O.describe(opts))
    end
    O.check(who, opts, MLP_OPTS)
    local sizes = opts.sizes
    if type(sizes) ~= "table" or getmetatable(sizes) ~= nil or #sizes < 2 then
      raise(who .. ": option 'sizes' must be a list of at least two layer sizes {in, hidden..., out}, got " ..
        O.describe(sizes))
    end
    for i = 1, #sizes do O.number(who, "sizes[" .. i .. "]", sizes[i], nil, {int = true, ge = 1, le = MAX_SIZE}) end
    local act_name = O.choice(who, "act", opts.act, "tanh", ACT_NAMES)
    local out_name = O.choice(who, "out_act", opts.out_act, "none", ACT_NAMES)
    local seed = O.number(who, "seed", opts.seed, 0, {int = true, ge = 0})
    if type(opts.std) == "table" then
      if getmetatable(opts.std) ~= nil or #opts.std ~= #sizes - 1 then
        raise(string.format("%s: option 'std' must be a number or a list of %d numbers (one per layer)", who,
          #sizes - 1))
      end
    end
    local layers = {}
    for i = 1, #sizes - 1 do
      local std = type(opts.std) == "table" and opts.std[i] or opts.std
      layers[i] = linear(who, sizes[i], sizes[i + 1],
        {seed = seed * 1000 + i, std = std, uniform = opts.uniform, bias_uniform = opts.bias_uniform})
    end
    -- the names too, so ds.kit.mlp can run the same network fused
    return setmetatable({layers = layers, act = acts[act_name], out_act = acts[out_name], act_name = act_name,
                         out_act_name = out_name}, MLP)
  end

  function MLP:forward(x)
    if getmetatable(self) ~= MLP then raise("mlp:forward: call it as a method (net:forward(x))") end
    local n = #self.layers
    for i = 1, n do
      x = self.layers[i]:forward(x)
      x = (i < n) and self.act(x) or self.out_act(x)
    end
    return x
  end

  function MLP:parameters()
    if getmetatable(self) ~= MLP then raise("mlp:parameters: call it as a method (net:parameters())") end
    local ps = {}
    for _, l in ipairs(self.layers) do
      for _, p in ipairs(l:parameters()) do ps[#ps + 1] = p end
    end
    return ps
  end

  function nn.count(params)
    if type(params) ~= "table" or getmetatable(params) ~= nil then
      raise("ds.nn.count: argument 'params' must be a list of tensors, got " .. O.describe(params))
    end
    local n = 0
    for i, p in ipairs(params) do
      if not ds.is_tensor(p) or p.ptr == nil then
        raise(string.format("ds.nn.count: params[%d] is not a live tensor (got %s)", i, O.describe(p)))
      end
      n = n + p:numel()
    end
    return n
  end

  -- the classes, for diffsim.state's m:state() / m:load_state()
  nn._classes = {linear = Linear, mlp = MLP}
  return nn
end
