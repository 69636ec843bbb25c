// swift-tools-version:6.0
import PackageDescription

// No target carries unsafe flags, so other packages can depend on the libraries. The C kernels are compiled
// for every x86-64 ISA level at once (function target attributes) and picked at run time from cpuid.
let package = Package(
    name: "rwkv-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rwkv", targets: ["rwkv"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "ModelFiles", targets: ["ModelFiles"]),
        .library(name: "RWKVGraph", targets: ["RWKVGraph"]),
        .library(name: "RWKVServer", targets: ["RWKVServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // Futex helpers for the worker team.
        .target(name: "CThreads", path: "Sources/CThreads"),
        // Every hot loop, in C, once per ISA level (scalar, AVX2, AVX-512, AVX-512 VNNI); OpenBLAS for F32 GEMMs.
        .target(
            name: "CKernels",
            path: "Sources/CKernels",
            exclude: ["kernels"],
            linkerSettings: [.linkedLibrary("openblas")]
        ),
        .target(
            name: "Tensor",
            dependencies: ["CThreads", "CKernels"],
            path: "Sources/Tensor"
        ),
        .target(
            name: "ModelFiles",
            dependencies: ["Tensor"],
            path: "Sources/ModelFiles"
        ),
        .target(
            name: "RWKVGraph",
            dependencies: ["Tensor", "ModelFiles"],
            path: "Sources/RWKVGraph"
        ),
        // The OpenAI-compatible server: continuous batching, a state cache, the HTTP routes. Its own target, so
        // the kernels and their tests never wait on the HTTP stack.
        .target(
            name: "RWKVServer",
            dependencies: [
                "RWKVGraph", "ModelFiles", "Tensor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/RWKVServer"
        ),
        // llama-bench-style model benchmarks, the read-bandwidth probe and kernel timings: the CLI's, not
        // the libraries'.
        .target(
            name: "Benchmarks",
            dependencies: ["Tensor", "ModelFiles", "RWKVGraph", "CKernels"],
            path: "Sources/Benchmarks"
        ),
        .executableTarget(
            name: "rwkv",
            dependencies: [
                "Tensor",
                "ModelFiles",
                "RWKVGraph",
                "Benchmarks",
                "RWKVServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/rwkv"
        ),
        // Counts malloc calls so tests can prove that executing a graph allocates nothing.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .testTarget(
            name: "TensorTests",
            dependencies: ["Tensor", "CMallocCounter"],
            path: "Tests/TensorTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ModelFilesTests",
            dependencies: ["ModelFiles", "Tensor", "CMallocCounter"],
            path: "Tests/ModelFilesTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "RWKVGraphTests",
            dependencies: ["RWKVGraph", "ModelFiles", "Tensor", "Benchmarks"],
            path: "Tests/RWKVGraphTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "RWKVServerTests",
            dependencies: ["RWKVServer", "RWKVGraph", "ModelFiles", .product(name: "HummingbirdTesting", package: "hummingbird")],
            path: "Tests/RWKVServerTests"
        ),
    ]
)
