-- ds.kit: the core's shared numerics (docs/kit.md) as differentiable ops.
--
--   local grid = ds.kit.p2g(x, v, {64, 64}, {dx = 1/64, origin = {0, 0}})  -- x {P, D}, v {P, C} -> {64, 64, C}
--   local vp   = ds.kit.g2p(x, grid, {dx = 1/64, origin = {0, 0}})         -- -> {P, C}
--   local y    = ds.kit.mlp(net, x)       -- net: a ds.nn.mlp; x {in} or {B, in}
--   local w    = ds.kit.flatten(net:parameters())   -- the flat weight layout
-- Grid opts: dx (default 1), origin (default zeros), clamp (default false: a
-- particle whose stencil leaves the grid is an error naming it).
return function(ds)
  local V = ds.view
  local kit = {}
  local K = setmetatable({}, {__index = function(t, name)
    local k = ds.kernel("core." .. name)
    t[name] = k
    return k
  end})

  -- ds_kit_act codes of the activation names of ds.nn
  kit.ACT = {identity = 0, none = 0, tanh = 1, relu = 2, sigmoid = 3, sin = 4}
  local ACT_LIST = "identity, none, tanh, relu, sigmoid, sin"

  local function shape_of(fn, t, what)
    if not ds.is_tensor(t) then error("ds.kit." .. fn .. ": " .. what .. " must be a tensor", 3) end
    return t:shape()
  end

  local function grid_params(fn, opts)
    opts = opts or {}
    if type(opts) ~= "table" then error("ds.kit." .. fn .. ": opts must be a table", 3) end
    local dx, o = opts.dx or 1, opts.origin or {}
    if type(dx) ~= "number" or not (dx > 0) then error("ds.kit." .. fn .. ": opts.dx must be a positive number", 3) end
    if type(o) ~= "table" then error("ds.kit." .. fn .. ": opts.origin must be a list of numbers", 3) end
    return {dx, o[1] or 0, o[2] or 0, o[3] or 0, opts.clamp and 1 or 0}
  end

  -- Scatter-add of particle values v {P, C} at positions x {P, D} into a new
  -- grid {dims..., C} with quadratic B-spline weights.
  function kit.p2g(x, v, dims, opts)
    local xs, vs = shape_of("p2g", x, "x"), shape_of("p2g", v, "v")
    if #xs ~= 2 or #vs ~= 2 then error("ds.kit.p2g: x must be {P, D} and v {P, C}", 2) end
    if type(dims) ~= "table" or #dims ~= xs[2] then
      error("ds.kit.p2g: dims must list " .. tostring(xs[2]) .. " grid sizes (one per coordinate of x)", 2)
    end
    local shape = {}
    for i, n in ipairs(dims) do shape[i] = n end
    shape[#shape + 1] = vs[2]
    local grid = ds.empty(shape)
    K.p2g:launch({x, v, grid}, grid_params("p2g", opts))
    return grid
  end

  -- The transpose: grid {dims..., C} sampled at x {P, D} -> {P, C}.
  function kit.g2p(x, grid, opts)
    local xs, gs = shape_of("g2p", x, "x"), shape_of("g2p", grid, "grid")
    if #xs ~= 2 then error("ds.kit.g2p: x must be {P, D}", 2) end
    local out = ds.empty({xs[1], gs[#gs] or 1})
    K.g2p:launch({x, grid, out}, grid_params("g2p", opts))
    return out
  end

  -- The parameters of a ds.nn.mlp as one flat tensor (differentiable):
  -- W1 {in, h1} row-major, b1, W2, b2, ...
  function kit.flatten(params)
    local parts = {}
    for i, p in ipairs(params) do parts[i] = V(p).ndim == 1 and p or ds.reshape(p, {p:numel()}) end
    return #parts == 1 and parts[1] or ds.concat(parts)
  end

  -- The spec tensor of core.mlp: L + 1 widths, then L activation codes.
  function kit.mlp_spec(sizes, acts)
    if type(sizes) ~= "table" or #sizes < 2 then error("ds.kit.mlp_spec: sizes must list at least 2 widths", 2) end
    if type(acts) ~= "table" or #acts ~= #sizes - 1 then
      error("ds.kit.mlp_spec: acts must list one activation per layer (" .. (#sizes - 1) .. ")", 2)
    end
    local s = {}
    for i, n in ipairs(sizes) do s[i] = n end
    for l, a in ipairs(acts) do
      local code = kit.ACT[a]
      if not code then
        error("ds.kit.mlp: unsupported activation '" .. tostring(a) .. "' (layer " .. l .. "); supported: " .. ACT_LIST, 3)
      end
      s[#s + 1] = code
    end
    return ds.tensor(s, "i32")
  end

  -- The activation name of a ds.nn.mlp's activation function, from the function
  -- itself (what net:forward runs), never from a name that may be stale. The
  -- identity is recognised by returning its argument; anything else is nil.
  local KNOWN = {tanh = ds.tanh, relu = ds.relu, sigmoid = ds.sigmoid, sin = ds.sin}
  local function act_name(f, probe)
    if f == ds.tanh then return "tanh" elseif f == ds.relu then return "relu"
    elseif f == ds.sigmoid then return "sigmoid" elseif f == ds.sin then return "sin" end
    if type(f) == "function" then
      local ok, y = pcall(f, probe)
      if ok and rawequal(y, probe) then return "identity" end
    end
    return nil
  end

  -- The sizes and per-layer activations of a ds.nn.mlp. A network whose
  -- activation functions were set by hand is described by those functions (an
  -- unknown one is an error), so the fused MLP never runs another network than
  -- net:forward would. `who` names the caller in errors (default ds.kit.mlp).
  function kit.describe(net, who)
    who = who or "ds.kit.mlp"
    if type(net) ~= "table" or type(net.layers) ~= "table" or #net.layers == 0 then
      error(who .. ": net must be a ds.nn.mlp", 3)
    end
    local sizes, acts, probe = {net.layers[1].n_in}, {}, nil
    for l, layer in ipairs(net.layers) do
      sizes[l + 1] = layer.n_out
      local last = l == #net.layers
      local f = last and net.out_act or net.act
      local name = last and net.out_act_name or net.act_name
      if f ~= nil then
        -- the stored name counts only when it names this very function
        if not (name and KNOWN[name] == f) then
          probe = probe or ds.zeros{1}
          name = act_name(f, probe)
        end
      end
      if not (name and kit.ACT[name]) then
        error(string.format("%s: layer %d of the net has an activation (%s) that the fused MLP does not support; " ..
          "supported: %s (a ds.nn.mlp built with one of them, not a function set by hand)", who, l,
          type(f) == "function" and "a custom function" or tostring(name), ACT_LIST), 3)
      end
      acts[l] = name
    end
    return sizes, acts
  end

  -- The fused MLP: net is a ds.nn.mlp (its parameters are flattened, so their
  -- gradients flow), or {sizes = {...}, acts = {...}, w = flat tensor}.
  -- x {in} or {B, in} -> {out} or {B, out}.
  function kit.mlp(net, x)
    if type(net) ~= "table" then error("ds.kit.mlp: net must be a ds.nn.mlp or {sizes =, acts =, w =}", 2) end
    local sizes, acts, w
    if net.layers then
      sizes, acts = kit.describe(net)
      w = kit.flatten(net:parameters())
    else
      sizes, acts, w = net.sizes, net.acts, net.w
      if not ds.is_tensor(w) then error("ds.kit.mlp: net.w must be the flat weight tensor", 2) end
    end
    local spec = kit.mlp_spec(sizes, acts)
    local xs = shape_of("mlp", x, "x")
    local x2 = #xs == 1 and ds.reshape(x, {1, xs[1]}) or x
    local B = #xs == 1 and 1 or xs[1]
    local out = ds.empty({B, sizes[#sizes]})
    K.mlp:launch({x2, w, spec, out})
    if #xs == 1 then return ds.reshape(out, {sizes[#sizes]}) end
    return out
  end

  return kit
end
