// swift-tools-version:6.0
// An application that depends on rwkv-swift by version, as any other package would. The package's URL comes
// from RWKV_SWIFT_URL (tools/check_dependency.sh points it at a tagged local clone).
import Foundation
import PackageDescription

let rwkvSwift = ProcessInfo.processInfo.environment["RWKV_SWIFT_URL"] ?? "https://github.com/rwkv-swift/rwkv-swift.git"

let package = Package(
    name: "Generate",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: rwkvSwift, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "generate",
            dependencies: [
                .product(name: "RWKVGraph", package: "rwkv-swift"),
                .product(name: "ModelFiles", package: "rwkv-swift"),
            ]
        ),
    ]
)
