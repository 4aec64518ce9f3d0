{
  # Each ISA gets its own static library so its -m flags apply to that
  # translation unit only; the addon itself is built for the baseline CPU and
  # picks a kernel table at load time. FMAs are written out explicitly;
  # -ffp-contract=off stops the compiler fusing others, so rounding is as
  # written (a backward pass must see the same values as its forward pass).
  "target_defaults": {
    "cflags": ["-O3", "-fPIC", "-fno-strict-aliasing", "-ffp-contract=off"],
    "cflags_cc": ["-std=gnu++17"],
    "cflags!": ["-O2", "-Os"],
    "cflags_cc!": ["-O2", "-Os"],
    "xcode_settings": {"GCC_OPTIMIZATION_LEVEL": "3", "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17"}
  },
  "targets": [
    {
      "target_name": "trax_isa_avx512",
      "type": "static_library",
      "sources": ["native/isa_avx512.cc"],
      "conditions": [
        ["target_arch=='x64'", {
          "cflags": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma",
                     "-mprefer-vector-width=512",
                     "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
          "xcode_settings": {"OTHER_CFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"]}
        }]
      ]
    },
    {
      "target_name": "trax_isa_avx2",
      "type": "static_library",
      "sources": ["native/isa_avx2.cc"],
      "conditions": [
        ["target_arch=='x64'", {
          "cflags": ["-mavx2", "-mfma"],
          "xcode_settings": {"OTHER_CFLAGS": ["-mavx2", "-mfma"]}
        }]
      ]
    },
    {
      "target_name": "trax_native",
      "sources": ["native/addon.cc", "native/plan.cc", "native/pool.cc", "native/isa_generic.cc"],
      "dependencies": ["trax_isa_avx512", "trax_isa_avx2"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lpthread"]
    }
  ]
}
