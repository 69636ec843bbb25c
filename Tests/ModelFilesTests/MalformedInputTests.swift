import Foundation
import ModelFiles
import Tensor
import Testing

/// Truncated, flipped and randomly mutated files for every reader: each must give a one-line error that
/// names the file (or load), never crash.
@Suite struct MalformedInputTests {
    /// Opens `path` as a model the way the CLI does; returns the error text, or nil when it loads.
    static func open(_ path: String) -> String? {
        do {
            let checkpoint = try Checkpoint.open(path)
            for (_, tensor) in checkpoint.tensors { _ = tensor.withUnsafeBytes { $0.last } }
            _ = try RWKV7Weights(checkpoint)
            return nil
        } catch let error as ModelFileError {
            return error.description
        } catch {
            return "UNEXPECTED \(type(of: error)): \(error)"
        }
    }

    static func expectCleanError(_ text: String?, _ path: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let text else { return }
        #expect(!text.hasPrefix("UNEXPECTED") && !text.contains("\n") && text.contains(path), "\(what): \(text)", sourceLocation: sourceLocation)
    }

    /// A small rwkv.cpp container: header and three tensors (f32, f32, q8_0).
    static func rwkvCppSeed() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        for v: UInt32 in [0x6767_6D66, 101, 8, 4, 1, 0] { u32(v) }
        func tensor(_ name: String, _ dims: [UInt32], _ type: UInt32, _ bytes: Int) {
            u32(UInt32(dims.count)); u32(UInt32(name.utf8.count)); u32(type)
            for d in dims { u32(d) }
            out += name.utf8
            out += (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        }
        tensor("emb.weight", [4, 8], 0, 128)
        tensor("blocks.0.ln1.weight", [4], 0, 16)
        tensor("head.weight", [32, 2], 9, 68)
        return out
    }

    static func safetensorsSeed() -> [UInt8] {
        let json = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"c":{"dtype":"F16","shape":[],"data_offsets":[32,34]}}  "#
        return withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian, Array.init) + Array(json.utf8) + (0..<34).map { UInt8($0) }
    }

    static func seeds() throws -> [(String, [UInt8])] {
        [("values.gguf", Array(try Fixtures.data("values.gguf"))), ("mixed.pth", Array(try Fixtures.data("mixed.pth"))),
         ("seed.safetensors", safetensorsSeed()), ("seed.bin", rwkvCppSeed())]
    }

    @Test func seedsLoadAsContainers() throws {
        let scratch = try ScratchDirectory()
        for (name, bytes) in try Self.seeds() {
            let checkpoint = try Checkpoint.open(try scratch.write(name, bytes))
            #expect(checkpoint.tensors.count >= 3, "\(name)")
        }
    }

    /// Every truncation of every seed fails cleanly (GGUF may lose only its final padding).
    @Test func truncationsAtEveryOffset() throws {
        let scratch = try ScratchDirectory()
        for (name, bytes) in try Self.seeds() {
            let lastDataEnd = name.hasSuffix(".gguf") ? 32 * ((bytes.count - 28) / 32) : bytes.count
            for length in 0..<bytes.count {
                let path = try scratch.write(name, Array(bytes[..<length]))
                let text = Self.open(path)
                Self.expectCleanError(text, path, "\(name) cut at \(length)")
                if length < lastDataEnd {
                    #expect(text != nil, "\(name) cut at \(length) loaded")
                }
            }
        }
    }

    @Test func flippedBytesAtEveryOffset() throws {
        let scratch = try ScratchDirectory()
        for (name, bytes) in try Self.seeds() {
            for offset in bytes.indices {
                var copy = bytes
                copy[offset] ^= 0xFF
                let path = try scratch.write(name, copy)
                Self.expectCleanError(Self.open(path), path, "\(name) flipped at \(offset)")
            }
        }
    }

    @Test func headerFieldsOutOfRange() throws {
        let scratch = try ScratchDirectory()
        var seed = Self.rwkvCppSeed()
        func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var copy = seed
            withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { copy[offset + i] = b } }
            return copy
        }
        expectModelError(["m.bin", "unknown file format"]) { _ = try Checkpoint.open(try scratch.write("m.bin", patched(0, 0x1234_5678))) }
        expectModelError(["version 7"]) { _ = try Checkpoint.open(try scratch.write("v.bin", patched(4, 7))) }
        expectModelError(["4 dimensions"]) { _ = try Checkpoint.open(try scratch.write("d.bin", patched(24, 4))) }
        expectModelError(["0 dimensions"]) { _ = try Checkpoint.open(try scratch.write("z.bin", patched(24, 0))) }
        for type: UInt32 in [4, 5, 6, 10, 99] {
            expectModelError(["rwkv.cpp type \(type)"]) { _ = try Checkpoint.open(try scratch.write("t.bin", patched(32, type))) }
        }
        expectModelError(["truncated", "data of 'emb.weight'"]) { _ = try Checkpoint.open(try scratch.write("h.bin", patched(36, 0xFFFF_FFF0))) }
        expectModelError(["name of 100000 bytes"]) { _ = try Checkpoint.open(try scratch.write("n.bin", patched(28, 100_000))) }
        seed = Array(try Fixtures.data("values.gguf"))
        expectModelError(["cannot fit"]) { _ = try Checkpoint.open(try scratch.write("c.gguf", patched(8, 0xFFFF_FFFF))) }
        // A ggml type this build cannot read names the tensor, the type and the types it reads.
        var writer = GGUFWriter()
        try writer.add("probe.weight", try Tensor(zeros: .f32, Shape(256)))
        try writer.write(to: scratch.path("probe.gguf"))
        seed = Array(try Data(contentsOf: URL(fileURLWithPath: scratch.path("probe.gguf"))))
        let name = Array("probe.weight".utf8)
        let nameEnd = (0...(seed.count - name.count)).first { Array(seed[$0..<($0 + name.count)]) == name }! + name.count
        for (id, typeName) in [(16, "IQ2_XXS"), (15, "Q8_K"), (39, "MXFP4"), (200, "unknown")] {
            expectModelError(["tensor 'probe.weight' has ggml type \(id) (\(typeName)), which is not supported (f32, f16, bf16, q8_0, q4_0, q4_1"]) {
                _ = try GGUFFile(file: try MappedFile(path: try scratch.write("type.gguf", patched(nameEnd + 12, UInt32(id)))))
            }
        }
    }

    /// Deterministic random mutations (flips, overwrites with 0/0xFF/random, insertions, deletions,
    /// truncations) of every seed; each input must load or fail cleanly.
    @Test func randomMutationFuzz() throws {
        let scratch = try ScratchDirectory()
        var generator = SeededGenerator(seed: 2026)
        var runs = 0, loaded = 0
        // Container seeds, and a whole model (so mutations also reach the RWKV-7 validation).
        var seeds = try Self.seeds().map { ($0.0, $0.1, 2500) }
        seeds.append(("model.gguf", Array(try Fixtures.data("tiny-q4_0.gguf")), 400))
        for (name, seed, count) in seeds {
            for _ in 0..<count {
                var bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    guard !bytes.isEmpty else { break }
                    let at = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<7, using: &generator) {
                    case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
                    case 1: bytes[at] = 0xFF
                    case 2: bytes[at] = 0
                    case 3: bytes[at] = UInt8.random(in: 0...255, using: &generator)
                    case 4: bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: at)
                    case 5: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &generator)))
                    default: bytes.removeSubrange(at...)
                    }
                }
                let path = try scratch.write(name, bytes)
                let text = Self.open(path)
                Self.expectCleanError(text, path, "mutated \(name)")
                runs += 1
                if text == nil { loaded += 1 }
            }
        }
        print("fuzz: \(runs) mutated inputs over 4 readers ran without a crash (\(loaded) loaded as models)")
        #expect(runs == 4 * 2500 + 400 && loaded > 0)
    }

    /// Truncations of the shared rwkv.cpp model at sampled offsets (when ../shared is present).
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP16.bin"), "needs ../shared/models"))
    func sharedModelTruncations() throws {
        let source = Fixtures.shared("tiny-rwkv-7v0-834K-FP16.bin")!
        let scratch = try ScratchDirectory()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: source)))
        for length in stride(from: 0, to: bytes.count, by: 4099) {
            let path = try scratch.write("cut.bin", Array(bytes[..<length]))
            let text = Self.open(path)
            Self.expectCleanError(text, path, "cut at \(length)")
            #expect(text != nil)
        }
    }
}
