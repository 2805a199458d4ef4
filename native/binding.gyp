{
  "targets": [
    {
      "target_name": "ablate_native",
      "sources": ["src/addon.cc", "src/conv.cc", "src/batchnorm.cc", "src/eltwise.cc", "src/tensor_ops.cc", "src/pool.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-ffp-contract=off"],
      "libraries": ["-ldnnl", "-fopenmp"]
    },
    {
      "target_name": "ablate_env",
      "sources": ["src/env.cc"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
