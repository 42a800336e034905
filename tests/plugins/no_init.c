/* Broken on purpose: exports no ds_plugin_init. */
int ds_plugin_start(void) { return 0; }
