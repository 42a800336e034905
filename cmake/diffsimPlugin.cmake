# ds_add_plugin(name src...): builds a diffsim plugin twice, libds_<name>_f32.so
# and libds_<name>_f64.so, from the same sources (ds_real = float, double).
#
# One definition serves two callers: diffsim's own CMakeLists (plugins/<name>/
# built in-tree) and diffsimConfig.cmake (find_package(diffsim) in a plugin's
# own project, against the installed headers). A plugin includes only
# <diffsim/plugin.h> and never links the core: the host hands it a function
# table at load time, so the only usage requirement is diffsim::headers.
#
# The modules go to ${DS_PLUGIN_DIR} (default <build>/plugins), and install to
# ${DS_INSTALL_PLUGIN_SUBDIR} under the install prefix. The Lua front end
# <name>.lua next to the CMakeLists, when there is one, installs to
# ${DS_INSTALL_LUADIR}/diffsim/plugins; out of tree it is also copied beside the
# built modules, where ds.plugin(name) looks first, so a plugin folder needs
# no LUA_PATH: DIFFSIM_PLUGIN_PATH=<build>/plugins (or ds.add_plugin_path) is all.
include_guard(GLOBAL)

if(NOT DEFINED DS_PLUGIN_DIR)
  set(DS_PLUGIN_DIR ${CMAKE_BINARY_DIR}/plugins)
endif()
if(NOT DEFINED DS_INSTALL_PLUGIN_SUBDIR)
  set(DS_INSTALL_PLUGIN_SUBDIR lib/diffsim/plugins)
endif()
if(NOT DEFINED DS_INSTALL_LUADIR)
  set(DS_INSTALL_LUADIR share/lua/5.1)
endif()

function(ds_add_plugin name)
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "ds_add_plugin: plugin name '${name}' must be a C identifier (letters, digits, _)")
  endif()
  if(NOT ARGN)
    message(FATAL_ERROR "ds_add_plugin(${name}): no source files given")
  endif()
  if(NOT TARGET diffsim::headers)
    message(FATAL_ERROR "ds_add_plugin(${name}): diffsim::headers is not defined; call find_package(diffsim) first")
  endif()
  foreach(prec f32 f64)
    set(t ds_${name}_${prec})
    add_library(${t} MODULE ${ARGN})
    target_link_libraries(${t} PRIVATE diffsim::headers OpenMP::OpenMP_C m)
    if(prec STREQUAL f64)
      target_compile_definitions(${t} PRIVATE DS_REAL_F64)
    endif()
    # Never unloaded: OpenMP workers may still sit in the plugin's code at exit.
    target_link_options(${t} PRIVATE -Wl,-z,nodelete)
    # hidden: ds_plugin_init (declared in plugin.h) is the one exported symbol
    set_target_properties(${t} PROPERTIES PREFIX "lib" LIBRARY_OUTPUT_DIRECTORY ${DS_PLUGIN_DIR}
      C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
      C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS ON POSITION_INDEPENDENT_CODE ON)
    install(TARGETS ${t} LIBRARY DESTINATION ${DS_INSTALL_PLUGIN_SUBDIR})
  endforeach()
  set(front ${CMAKE_CURRENT_SOURCE_DIR}/${name}.lua)
  if(EXISTS ${front})
    install(FILES ${front} DESTINATION ${DS_INSTALL_LUADIR}/diffsim/plugins)
    if(NOT DIFFSIM_IN_SOURCE_TREE)
      # configure_file makes the copy a configure dependency: an edited front
      # end is copied again by the next build.
      configure_file(${front} ${DS_PLUGIN_DIR}/${name}.lua COPYONLY)
    endif()
  endif()
endfunction()
