// `RWKV_FUZZ_TARGET=NAME rwkv-fuzz [libFuzzer options and corpus folders]`: one fuzz target per reader. Each
// input is read as that kind of file from memory; anything but a clean ModelFileError (or TensorError or
// ExecutionError) is a finding: the harness traps, and libFuzzer saves the input. libFuzzer provides main.
import Foundation
import ModelFiles
import RWKVGraph
import RWKVServer
import Tensor

/// A target: what to do with one input.
typealias Target = (UnsafeRawBufferPointer) throws -> Void

/// Every model format through the same door the CLI uses: container, then the RWKV-7 validation; a model
/// that loads has every tensor's bytes read (they must lie inside the file).
func model(_ name: String) -> Target {
    { bytes in
        let checkpoint = try Checkpoint.open(file: MappedFile(copying: bytes, path: name))
        for (_, tensor) in checkpoint.tensors { _ = tensor.withUnsafeBytes { $0.reduce(UInt8(0), &+) } }
        _ = try RWKV7Weights(checkpoint)
    }
}

/// A small fixed model shape for state files.
let stateShape = RWKV7Hyperparameters(vocabularySize: 256, embedding: 64, layers: 2, headSize: 64, decayRank: 32,
                                      iclrRank: 32, valueRank: 32, gateRank: 32, ffnSize: 256)

/// The World vocabulary when ../shared has it, else a synthetic one (every byte, then frequent pairs and
/// longer runs), for the tokenizer target.
nonisolated(unsafe) let tokenizer: WorldTokenizer = {
    let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/models/rwkv_vocab_v20230424.txt").path
    if let vocabulary = try? WorldVocabulary(contentsOf: shared) { return WorldTokenizer(vocabulary) }
    var tokens: [[UInt8]] = [[]] + (0...255).map { [UInt8($0)] }
    let letters = Array("etaoinshrdlu \n".utf8)
    for a in letters { for b in letters { tokens.append([a, b]) } }
    tokens += ["the ", "ing", "and ", "    ", "\n\n", "你好", "\u{1F600}"].map { Array($0.utf8) }
    return WorldTokenizer(WorldVocabulary(path: "synthetic", tokens: tokens))
}()

nonisolated(unsafe) let targets: [String: Target] = [
    "gguf": model("fuzz.gguf"),
    "pth": model("fuzz.pth"),
    "safetensors": model("fuzz.safetensors"),
    "rwkvcpp": model("fuzz.bin"),
    "state": { bytes in _ = try RWKV7State(file: MappedFile(copying: bytes, path: "fuzz.state"), for: stateShape) },
    "vocab": { bytes in _ = try WorldVocabulary(file: MappedFile(copying: bytes, path: "fuzz.txt")) },
    "logits": { bytes in _ = try LogitsDump.read(file: MappedFile(copying: bytes, path: "fuzz.safetensors")) },
    "request": { bytes in
        // An HTTP request body for either endpoint (the first byte picks which): parsed, or a 4xx naming why.
        guard let first = bytes.first else { return }
        do throws(ServerError) {
            _ = try OpenAIRequest(body: Array(bytes.dropFirst()), chat: first & 1 == 1)
        } catch {
            guard (400..<500).contains(error.status), !error.message.isEmpty else { fatalError("request: \(error.status) \(error.message)") }
        }
    },
    "tokenizer": { bytes in
        // Any bytes tokenize, and the tokens decode back to exactly those bytes.
        let input = Array(bytes)
        let ids = tokenizer.encode(input)
        guard tokenizer.decode(ids) == input else { fatalError("tokenizer round trip changed \(input.count) bytes") }
    },
]

/// The target RWKV_FUZZ_TARGET names (chosen once, before the first input).
nonisolated(unsafe) let selected: Target = {
    let name = ProcessInfo.processInfo.environment["RWKV_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        FileHandle.standardError.write(Data("set RWKV_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    do {
        try selected(UnsafeRawBufferPointer(start: data, count: size))
    } catch is ModelFileError {
    } catch is TensorError {
    } catch is ExecutionError {
    } catch {
        fatalError("unexpected error \(type(of: error)): \(error)")
    }
    return 0
}
