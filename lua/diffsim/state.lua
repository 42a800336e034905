-- m:state() and m:load_state(s) for ds.nn modules and ds.optim optimizers, so
-- that training can stop and resume bit-identically:
--
--   ds.save("ckpt.npz", {net = net:state(), opt = opt:state(), iter = it})
--   ...
--   local ck = ds.load("ckpt.npz")
--   net:load_state(ck.net); opt:load_state(ck.opt)
--
-- state() returns copies (later training does not change a saved state), as a
-- plain table of tensors and numbers that ds.save writes and ds.load returns:
--   linear   {W =, b =}
--   mlp      {layers = {{W =, b =}, ...}}
--   gd       {}                        (no state; load_state(nil) is fine too)
--   sgd      {bufs = {...}}            momentum buffers, one per parameter
--   adam     {t =, m = {...}, v = {...}}  step count and moments (adamw too)
--   lbfgs    {evals =, s = {{...}, ...}, y = {{...}, ...}}  the curvature pairs,
--            oldest first; 1/(s.y) is recomputed, bitwise as it was
-- Hyperparameters (lr, betas, ...) are not state: they are the constructor's,
-- as the fresh optimizer is built; a schedule that changed opt.lr sets it again.
--
-- load_state(s) copies the values into the existing tensors (the same objects
-- the optimizer holds, any device), after checking every name, count, shape
-- and dtype: a mismatch is an error naming the entry, and nothing is changed.
-- A number may also come as a one-element tensor (what ds.load returns).
return function(ds)
  local O = require("diffsim.options").install(ds)
  local raise = O.raise

  local function copy_list(list)
    local out = {}
    for i, t in ipairs(list) do out[i] = t:detach() end
    return out
  end

  local function shape_s(t) return "{" .. table.concat(t:shape(), ", ") .. "}" end

  local function check_table(who, what, v)
    if type(v) ~= "table" or getmetatable(v) ~= nil then
      raise(who .. ": " .. what .. " must be a table, got " .. O.describe(v))
    end
  end

  -- only these keys, all present
  local function check_keys(who, what, s, keys)
    check_table(who, what, s)
    local want = {}
    for _, k in ipairs(keys) do
      want[k] = true
      if s[k] == nil then raise(who .. ": " .. what .. " has no entry '" .. k .. "'") end
    end
    for k in pairs(s) do
      if not want[k] then
        raise(who .. ": " .. what .. " has an unexpected entry '" .. tostring(k) .. "' (expected " ..
          table.concat(keys, ", ") .. ")")
      end
    end
  end

  -- src must be a live tensor shaped and typed like dst; returns a pending copy
  local function pair(who, what, dst, src, pending)
    if not ds.is_tensor(src) or src.ptr == nil then
      raise(who .. ": " .. what .. " must be a tensor, got " .. O.describe(src))
    end
    if src:dtype_name() ~= dst:dtype_name() then
      raise(who .. ": " .. what .. " is an " .. src:dtype_name() .. " tensor, expected " .. dst:dtype_name())
    end
    local a, b = shape_s(dst), shape_s(src)
    if a ~= b then raise(who .. ": " .. what .. " has shape " .. b .. ", expected " .. a) end
    pending[#pending + 1] = {dst, src}
  end

  local function pair_list(who, what, dsts, srcs, pending)
    check_table(who, what, srcs)
    if #srcs ~= #dsts then
      raise(string.format("%s: %s has %d entries, expected %d (one per parameter)", who, what, #srcs, #dsts))
    end
    for i, d in ipairs(dsts) do pair(who, string.format("%s[%d]", what, i), d, srcs[i], pending) end
  end

  local function count(who, what, v)
    if ds.is_tensor(v) and v.ptr ~= nil and v:numel() == 1 then v = v:item() end
    if type(v) ~= "number" or v ~= math.floor(v) or v < 0 then
      raise(who .. ": " .. what .. " must be a non-negative integer, got " .. O.describe(v))
    end
    return v
  end

  -- every check first, then the copies: a bad state changes nothing
  local function apply(pending)
    for _, p in ipairs(pending) do p[1]:copy_(p[2]) end
  end

  -- ---- nn ---------------------------------------------------------------------
  local nnc = ds.nn._classes
  local function linear_state(l) return {W = l.W:detach(), b = l.b:detach()} end
  local function linear_pairs(who, what, l, s, pending)
    check_keys(who, what, s, {"W", "b"})
    pair(who, what .. ".W", l.W, s.W, pending)
    pair(who, what .. ".b", l.b, s.b, pending)
  end
  function nnc.linear:state()
    if getmetatable(self) ~= nnc.linear then raise("linear:state: call it as a method (layer:state())") end
    return linear_state(self)
  end
  function nnc.linear:load_state(s)
    local who = "linear:load_state"
    if getmetatable(self) ~= nnc.linear then raise(who .. ": call it as a method (layer:load_state(s))") end
    local pending = {}
    linear_pairs(who, "state", self, s, pending)
    apply(pending)
    return self
  end
  function nnc.mlp:state()
    if getmetatable(self) ~= nnc.mlp then raise("mlp:state: call it as a method (net:state())") end
    local layers = {}
    for i, l in ipairs(self.layers) do layers[i] = linear_state(l) end
    return {layers = layers}
  end
  function nnc.mlp:load_state(s)
    local who = "mlp:load_state"
    if getmetatable(self) ~= nnc.mlp then raise(who .. ": call it as a method (net:load_state(s))") end
    check_keys(who, "state", s, {"layers"})
    check_table(who, "state.layers", s.layers)
    if #s.layers ~= #self.layers then
      raise(string.format("%s: state.layers has %d layers, this network has %d", who, #s.layers, #self.layers))
    end
    local pending = {}
    for i, l in ipairs(self.layers) do linear_pairs(who, "state.layers[" .. i .. "]", l, s.layers[i], pending) end
    apply(pending)
    return self
  end

  -- ---- optim ------------------------------------------------------------------
  local oc = ds.optim._classes
  local function define(cls, kind, state, load)
    cls.state = function(self)
      if getmetatable(self) ~= cls then raise(kind .. ":state: call it as a method (opt:state())") end
      return state(self)
    end
    cls.load_state = function(self, s)
      local who = kind .. ":load_state"
      if getmetatable(self) ~= cls then raise(who .. ": call it as a method (opt:load_state(s))") end
      for i, p in ipairs(self.params) do
        if p.ptr == nil then raise(string.format("%s: parameter %d has been freed", who, i)) end
      end
      load(self, s, who)
      return self
    end
  end
  -- gd has no state. nil is accepted too: an empty table is not kept by an
  -- .npz (it holds tensors only), so ck.opt of a saved gd state loads as nil.
  define(oc.gd, "gd", function() return {} end, function(_, s, who)
    if s ~= nil then check_keys(who, "state", s, {}) end
  end)

  define(oc.sgd, "sgd", function(self) return {bufs = copy_list(self.bufs)} end, function(self, s, who)
    check_keys(who, "state", s, {"bufs"})
    local pending = {}
    pair_list(who, "state.bufs", self.bufs, s.bufs, pending)
    apply(pending)
  end)

  define(oc.adam, "adam", function(self)
    return {t = self.t, m = copy_list(self.m), v = copy_list(self.v)}
  end, function(self, s, who)
    check_keys(who, "state", s, {"t", "m", "v"})
    local t = count(who, "state.t", s.t)
    local pending = {}
    pair_list(who, "state.m", self.m, s.m, pending)
    pair_list(who, "state.v", self.v, s.v, pending)
    apply(pending)
    self.t = t
  end)

  define(oc.lbfgs, "lbfgs", function(self)
    local s, y = {}, {}
    for i = 1, #self.s do s[i], y[i] = copy_list(self.s[i]), copy_list(self.y[i]) end
    return {evals = self.evals, s = s, y = y}
  end, function(self, st, who)
    check_keys(who, "state", st, {"evals", "s", "y"})
    local evals = count(who, "state.evals", st.evals)
    check_table(who, "state.s", st.s)
    check_table(who, "state.y", st.y)
    if #st.s ~= #st.y then
      raise(string.format("%s: state.s has %d pairs but state.y has %d", who, #st.s, #st.y))
    end
    if #st.s > self.history then
      raise(string.format("%s: the state holds %d curvature pairs, more than this optimizer's history (%d)", who,
        #st.s, self.history))
    end
    local news, newy, pending = {}, {}, {}
    for i = 1, #st.s do
      news[i], newy[i] = {}, {}
      for j, p in ipairs(self.params) do news[i][j], newy[i][j] = ds.empty_like(p), ds.empty_like(p) end
      pair_list(who, "state.s[" .. i .. "]", news[i], st.s[i], pending)
      pair_list(who, "state.y[" .. i .. "]", newy[i], st.y[i], pending)
    end
    apply(pending)
    -- rho = 1 / (s . y), by the same reduction step() used: bitwise the same
    local rho = {}
    for i = 1, #news do
      local sy = 0
      for j = 1, #news[i] do sy = sy + ds.C.ds_vdot(news[i][j].p, newy[i][j].p) end
      rho[i] = 1 / sy
    end
    self.s, self.y, self.rho, self.evals = news, newy, rho, evals
  end)
end
