// A dependency-free helper loaded before the kernels: it sets environment defaults that the OpenMP
// runtime reads once, when it is loaded together with the kernels. From a worker thread,
// process.env changes stay inside JavaScript, so the C environment is set here instead.
#include <node_api.h>

#include <cstdlib>
#include <string>

namespace {

std::string stringArg(napi_env env, napi_value v) {
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, &s[0], len + 1, &len);
  return s;
}

// setDefault(name, value): sets name=value unless name is already set; returns the value in effect.
napi_value SetDefault(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) {
    napi_throw_type_error(env, nullptr, "setDefault(name, value)");
    return nullptr;
  }
  const std::string name = stringArg(env, argv[0]), value = stringArg(env, argv[1]);
  setenv(name.c_str(), value.c_str(), 0);
  const char* now = getenv(name.c_str());
  napi_value result;
  napi_create_string_utf8(env, now ? now : "", NAPI_AUTO_LENGTH, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "setDefault", NAPI_AUTO_LENGTH, SetDefault, nullptr, &fn);
  napi_set_named_property(env, exports, "setDefault", fn);
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
