-- Neural-network layers for controllers: linear and multi-layer perceptrons.
--   local net = ds.nn.mlp{sizes = {n_in, 32, n_out}, act = "tanh", out_act = "tanh", seed = 0}
--   local y = net:forward(x)       -- x: {n_in} or {batch, n_in}
--   opt = ds.optim.adam(net:parameters(), {lr = 1e-3})
return function(ds)
  local V = ds.view
  local nn = {}

  local Linear = {}
  Linear.__index = Linear

  -- opts.std: weights ~ N(0, std^2) (default: Glorot-style sqrt(2 / (n_in + n_out)));
  -- opts.uniform: weights ~ U(-u, u) instead; biases start at 0.
  function nn.linear(n_in, n_out, opts)
    opts = opts or {}
    if type(n_in) ~= "number" or type(n_out) ~= "number" or n_in < 1 or n_out < 1 then
      error("ds.nn.linear: sizes must be positive numbers", 2)
    end
    local seed = opts.seed or 0
    local W
    if opts.uniform then
      W = ds.rand({n_in, n_out}, seed, -opts.uniform, opts.uniform)
    else
      W = ds.randn({n_in, n_out}, seed, opts.std or math.sqrt(2 / (n_in + n_out)))
    end
    local b = opts.bias_uniform and ds.rand({n_out}, seed + 7919, -opts.bias_uniform, opts.bias_uniform) or ds.zeros{n_out}
    return setmetatable({W = W:requires_grad(), b = b:requires_grad(), n_in = n_in, n_out = n_out}, Linear)
  end

  function Linear:forward(x)
    if not ds.is_tensor(x) then error("nn.linear:forward: input must be a tensor", 2) end
    if V(x).ndim == 1 then
      return ds.reshape(ds.add_row(ds.matmul(ds.reshape(x, {1, self.n_in}), self.W), self.b), {self.n_out})
    end
    return ds.add_row(ds.matmul(x, self.W), self.b)
  end
  function Linear:parameters() return {self.W, self.b} end

  local acts = {tanh = ds.tanh, relu = ds.relu, sigmoid = ds.sigmoid, sin = ds.sin,
                identity = function(x) return x end, none = function(x) return x end}

  local MLP = {}
  MLP.__index = MLP

  -- opts: sizes (list), act ("tanh" | "relu" | "sigmoid"), out_act (default none),
  -- seed, std (list per layer or number), uniform (number)
  function nn.mlp(opts)
    if type(opts) ~= "table" or type(opts.sizes) ~= "table" or #opts.sizes < 2 then
      error("ds.nn.mlp: expected {sizes = {in, hidden..., out}}", 2)
    end
    local act = acts[opts.act or "tanh"]
    local out_act = acts[opts.out_act or "none"]
    if not act or not out_act then error("ds.nn.mlp: unknown activation", 2) end
    local layers = {}
    for i = 1, #opts.sizes - 1 do
      local std = type(opts.std) == "table" and opts.std[i] or opts.std
      layers[i] = nn.linear(opts.sizes[i], opts.sizes[i + 1],
        {seed = (opts.seed or 0) * 1000 + i, std = std, uniform = opts.uniform, bias_uniform = opts.bias_uniform})
    end
    -- the names too, so ds.kit.mlp can run the same network fused
    return setmetatable({layers = layers, act = act, out_act = out_act, act_name = opts.act or "tanh",
                         out_act_name = opts.out_act or "none"}, MLP)
  end

  function MLP:forward(x)
    local n = #self.layers
    for i = 1, n do
      x = self.layers[i]:forward(x)
      x = (i < n) and self.act(x) or self.out_act(x)
    end
    return x
  end

  function MLP:parameters()
    local ps = {}
    for _, l in ipairs(self.layers) do
      for _, p in ipairs(l:parameters()) do ps[#ps + 1] = p end
    end
    return ps
  end

  function nn.count(params)
    local n = 0
    for _, p in ipairs(params) do n = n + p:numel() end
    return n
  end

  return nn
end
