// A shared library that is not an eqnn plugin: it exports no eqnn_plugin_info.
extern "C" __attribute__((visibility("default"))) int eqnn_test_not_a_plugin() { return 42; }
