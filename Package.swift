// swift-tools-version:6.0
import Foundation
import PackageDescription

// Kernels are compiled for the build machine's vector ISA: Swift SIMD math without a target CPU
// becomes per-lane libm calls. skylake-avx512 (AVX-512 F/BW/DQ/VL) where the build machine has it, else haswell
// (AVX2/FMA/F16C). Override with RWKV_TARGET_CPU=<llvm cpu name> (e.g. haswell for a binary that runs on any AVX2 machine).
let environment = ProcessInfo.processInfo.environment
#if arch(x86_64)
let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
let buildMachineHasAVX512 = cpuInfo.contains("avx512bw") && cpuInfo.contains("avx512vl")
let targetCPU: String? = environment["RWKV_TARGET_CPU"] ?? (buildMachineHasAVX512 ? "skylake-avx512" : "haswell")
#else
let targetCPU: String? = environment["RWKV_TARGET_CPU"]
#endif

#if arch(x86_64)
// The int8 kernels use AVX-512 VNNI (vpdpbusd) when the build machine has it.
let buildMachineHasVNNI = buildMachineHasAVX512 && cpuInfo.contains("avx512_vnni") && environment["RWKV_TARGET_CPU"] == nil
#else
let buildMachineHasVNNI = false
#endif
let swiftCPUFlags: [SwiftSetting] = targetCPU.map { [.unsafeFlags(["-target-cpu", $0])] } ?? []
let cCPUFlags: [CSetting] = targetCPU.map { [.unsafeFlags(["-march=\($0)"] + (buildMachineHasVNNI ? ["-mavx512vnni"] : []))] } ?? []
let kernelSwiftSettings: [SwiftSetting] = swiftCPUFlags + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "rwkv-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rwkv", targets: ["rwkv"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "ModelFiles", targets: ["ModelFiles"]),
        .library(name: "RWKVGraph", targets: ["RWKVGraph"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS through the system's CBLAS header (Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // An OpenMP parallel region (libomp), one of the two worker-team backends.
        .target(
            name: "CThreads",
            path: "Sources/CThreads",
            cSettings: cCPUFlags + [.unsafeFlags(["-O3", "-fopenmp"])],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-l:libomp.so.5"])]
        ),
        // The few kernels Swift cannot express well: int8 multiply-add (VNNI/AVX2), F16 tiles, Q8_0 rounding.
        .target(
            name: "CKernels",
            path: "Sources/CKernels",
            cSettings: cCPUFlags + [.unsafeFlags(["-O3", "-ffp-contract=off"])]
        ),
        .target(
            name: "Tensor",
            dependencies: ["CBLAS", "CThreads", "CKernels"],
            path: "Sources/Tensor",
            swiftSettings: kernelSwiftSettings
        ),
        .target(
            name: "ModelFiles",
            dependencies: ["Tensor"],
            path: "Sources/ModelFiles",
            swiftSettings: swiftCPUFlags
        ),
        .target(
            name: "RWKVGraph",
            dependencies: ["Tensor", "ModelFiles"],
            path: "Sources/RWKVGraph",
            swiftSettings: swiftCPUFlags
        ),
        .executableTarget(
            name: "rwkv",
            dependencies: [
                "Tensor",
                "ModelFiles",
                "RWKVGraph",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/rwkv",
            swiftSettings: swiftCPUFlags
        ),
        // Counts malloc calls so tests can prove that executing a graph allocates nothing.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .testTarget(
            name: "TensorTests",
            dependencies: ["Tensor", "CMallocCounter"],
            path: "Tests/TensorTests",
            exclude: ["Fixtures"],
            swiftSettings: swiftCPUFlags
        ),
        .testTarget(
            name: "ModelFilesTests",
            dependencies: ["ModelFiles", "Tensor", "CMallocCounter"],
            path: "Tests/ModelFilesTests",
            exclude: ["Fixtures"],
            swiftSettings: swiftCPUFlags
        ),
        .testTarget(
            name: "RWKVGraphTests",
            dependencies: ["RWKVGraph", "ModelFiles", "Tensor"],
            path: "Tests/RWKVGraphTests",
            exclude: ["Fixtures"],
            swiftSettings: swiftCPUFlags
        ),
    ]
)
