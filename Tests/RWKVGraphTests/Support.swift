import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The project's own model (`models/rwkv7-tiny-stories.gguf`: byte-level, 256 tokens).
    static let projectModel = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/rwkv7-tiny-stories.gguf").path

    /// Whether every one of `names` is in `../shared/models` (tests that need them are skipped otherwise).
    static func hasShared(_ names: String...) -> Bool { names.allSatisfy { shared($0) != nil } }

    static func shared(_ name: String) -> String? {
        let path = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/models/\(name)").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// rwkv.cpp's expected logits for the tokens `"in` (34, 105, 110) of its tiny model.
    static func rwkvCppExpectedLogits() throws -> [Float]? {
        guard let path = shared("expected-logits-7v0-834K.bin") else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in (0..<256).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
    }
}

func maxAbsDifference<A: Collection<Float>, B: Collection<Float>>(_ a: A, _ b: B) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

final class ScratchDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rwkv-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}
