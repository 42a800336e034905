-- LuaRocks: `luarocks make rockspecs/diffsim-0.1.0-1.rockspec` in a checkout
-- builds diffsim with CMake and installs it into the rock tree: the Lua package
-- (diffsim, deployed to the tree's share/lua/5.1), the core libraries and
-- plugins (under the rock's own prefix, found through the generated
-- diffsim/config.lua), the headers, CMake/pkg-config files and the launcher.
-- The Debian packages of scripts/setup.sh must be installed first.
rockspec_format = "3.0"
package = "diffsim"
version = "0.1.0-1"
source = {
  url = "git+https://example.invalid/diffsim.git", -- `luarocks make` builds the checkout it is run in
  tag = "v0.1.0",
}
description = {
  summary = "Differentiable physics engine: C core, physics plugins, LuaJIT scripting",
  detailed = [[
A small C core loads physics plugins (springs, MPM, smoke, wave, renderer) that
register forward and adjoint kernels; LuaJIT scripts record simulations on a
tape and get exact gradients of a loss with respect to initial states, material
parameters, actuation and network weights.
]],
  license = "MIT",
  labels = {"physics", "autodiff", "simulation", "luajit"},
}
dependencies = {
  "lua == 5.1", -- LuaJIT (the FFI); LuaRocks sees it as Lua 5.1
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    DS_INSTALL_LUADIR = "$(LUADIR)",
    CMAKE_INSTALL_BINDIR = "$(BINDIR)",
    CMAKE_INSTALL_LIBDIR = "lib",
    DS_TESTS = "OFF",
  },
}
