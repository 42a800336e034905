#!/bin/sh
# Follows docs/plugin-authoring.md section 10 ("A plugin in its own folder")
# from an empty folder: install diffsim to a temporary prefix, copy the
# example plugin to a folder of its own, configure and build it against the
# installed diffsim, load it with the installed launcher from another
# directory and gradient-check it; also the installed package under plain
# luajit, pkg-config, and the plugin installed into the prefix.
#   tests/install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/diffsim-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# Nothing from a build tree's environment may help the installed copy.
unset DIFFSIM_LIB_DIR DIFFSIM_PLUGIN_PATH DIFFSIM_ROOT LUA_PATH LUA_CPATH DIFFSIM_TEST_PLUGIN_DIR || true
step() { echo "== $*"; }

step "install to $prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log"
for f in bin/diffsim include/diffsim/plugin.h include/diffsim/core.h lib/libdiffsim_f32.so lib/libdiffsim_f64.so \
         lib/diffsim/plugins/libds_springs_f32.so lib/cmake/diffsim/diffsimConfig.cmake lib/pkgconfig/diffsim.pc \
         share/lua/5.1/diffsim/init.lua share/lua/5.1/diffsim/config.lua share/lua/5.1/diffsim/plugins/springs.lua \
         share/diffsim/scripts/projectile.lua share/diffsim/scenes/robots.lua share/doc/diffsim/plugin-authoring.md; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f was not installed"; exit 1; }
done

step "the launcher: --version and --help"
mkdir -p "$tmp/elsewhere"
cd "$tmp/elsewhere"
want="diffsim $(sed -n 's/^project(diffsim VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
got=$("$prefix/bin/diffsim" --version)
[ "$got" = "$want" ] || { echo "FAIL: --version printed '$got', expected '$want'"; exit 1; }
echo "$got"
"$prefix/bin/diffsim" --help | grep -q "usage: diffsim SCRIPT.lua" || { echo "FAIL: --help"; exit 1; }

step "plain luajit with the prefix's Lua path: core libraries, installed plugins and front ends"
LUA_PATH="$prefix/share/lua/5.1/?.lua;$prefix/share/lua/5.1/?/init.lua;;" luajit -e '
  local ds = require("diffsim")
  local sp = ds.plugin("springs")
  assert(type(sp) == "table" and sp.system, "the installed springs front end")
  local t = ds.tensor{1, 2, 3}
  print("luajit: diffsim " .. ds.version .. ", sum " .. ds.sum(t):item() .. ", springs front end loaded")'

step "pkg-config: a C program against the installed core"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --modversion diffsim
cat > "$tmp/use_core.c" <<'C'
#include <diffsim/core.h>
#include <stdio.h>
int main(void) {
  ds_ctx *ctx = ds_ctx_new(1);
  if (!ctx) return 1;
  printf("C: context made, ABI %d\n", ds_abi_version());
  ds_ctx_free(ctx);
  return 0;
}
C
cc -o "$tmp/use_core" "$tmp/use_core.c" $(pkg-config --cflags --libs diffsim) -Wl,-rpath,"$prefix/lib"
"$tmp/use_core"

step "the tutorial: copy plugins/example to a folder of its own, configure, build"
cp -r "$src/plugins/example" "$tmp/myplugin"
# a mark in the copy's front end: proves the one loaded is the one built here
sed -i 's/^return M$/M.built_here = true\nreturn M/' "$tmp/myplugin/example.lua"
cd "$tmp/myplugin"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/configure.log" \
  || { cat "$tmp/configure.log"; exit 1; }
cmake --build build > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
ls build/plugins

step "load it with the installed launcher from another directory, gradient-check it (section 8)"
cd "$tmp/elsewhere"
cat > check.lua <<'LUA'
local ds = require("diffsim")
ds.init{precision = "f64"}
if arg[1] then ds.add_plugin_path(arg[1]) end
local ex = ds.plugin("example")
assert(ex.built_here, "loaded a front end other than the folder's own")
local w1, w2 = ds.randn({5}, 11), ds.randn({5}, 12)
local ok, rep = ds.gradcheck(function(x, v, a, f1, f2)
  local x1, v1 = ex.step(x, v, 0.1, a, {f1, f2})
  return ds.dot(x1, w1) + ds.dot(v1, w2)
end, {ds.randn({5}, 1), ds.randn({5}, 2), ds.tensor(-9.8), ds.randn({5}, 3), ds.randn({5}, 4)})
assert(ok, rep.message)
print("gradcheck ok: example.step, float64, found through " .. (arg[1] and "ds.add_plugin_path" or
  os.getenv("DIFFSIM_PLUGIN_PATH") and "DIFFSIM_PLUGIN_PATH" or "the install prefix"))
LUA
DIFFSIM_PLUGIN_PATH="$tmp/myplugin/build/plugins" "$prefix/bin/diffsim" check.lua
"$prefix/bin/diffsim" check.lua "$tmp/myplugin/build/plugins"

step "install the plugin into the prefix; found with no path at all"
cmake --install "$tmp/myplugin/build" --prefix "$prefix" > /dev/null
"$prefix/bin/diffsim" check.lua
echo "PASS"
