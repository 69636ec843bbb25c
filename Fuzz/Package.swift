// swift-tools-version:6.0
// Coverage-guided fuzzing of every reader with libFuzzer: `tools/fuzz.sh` builds this package with
// `--sanitize=fuzzer --sanitize=address` (which instruments rwkv-swift's targets too; libFuzzer provides main)
// and runs each target, named by RWKV_FUZZ_TARGET.
// A package of its own, so the main package's builds and tests never link libFuzzer.
import Foundation
import PackageDescription

/// The main package's identity is the name of its folder (whatever the clone is called).
let main = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "rwkv-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "rwkv-fuzz",
            dependencies: [
                .product(name: "ModelFiles", package: main),
                .product(name: "RWKVGraph", package: main),
                .product(name: "RWKVServer", package: main),
                .product(name: "Tensor", package: main),
            ],
            path: "Sources/rwkv-fuzz"
        ),
    ]
)
