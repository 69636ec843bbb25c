import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// What llama.cpp's `llama-quantize` makes of a small rwkv7 GGUF (n_embd 256, so the K-quants apply), from
/// tools/gen_llama_quantize_fixtures.py: its F16 of a random model (`source-f16.gguf`), the type and bytes
/// (FNV-1a) of every tensor of every file type it made from that, and its Q4_K_M file itself.
@Suite struct LlamaQuantizeTests {
    struct Row {
        let recipe, options, tensor, type, hash: String
    }

    static let directory = "llama-quantize"

    /// File types llama-quantize makes and `rwkv quantize` does not (IQ4_XS, IQ4_NL): their file is a fixture.
    static let readOnlyRecipes: Set<String> = ["iq4_xs"]

    /// tensors.tsv, grouped by file type and options, in file order.
    static func files() throws -> [(recipe: String, options: String, rows: [Row])] {
        let text = try String(contentsOfFile: Fixtures.path("\(directory)/tensors.tsv"), encoding: .utf8)
        var files: [(recipe: String, options: String, rows: [Row])] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let row = Row(recipe: fields[0], options: fields[1], tensor: fields[2], type: fields[3], hash: fields[4])
            if let last = files.last, last.recipe == row.recipe && last.options == row.options {
                files[files.count - 1].rows.append(row)
            } else {
                files.append((row.recipe, row.options, [row]))
            }
        }
        return files
    }

    /// The plan llama-quantize's arguments describe (`--pure`, `--tensor-type P=T`).
    static func plan(_ recipe: String, _ options: String) throws -> QuantizationPlan {
        var plan = try QuantizationPlan(parsing: recipe)
        var words = options.split(separator: " ").map(String.init)[...]
        while let word = words.popFirst() {
            switch word {
            case "--pure": plan.pure = true
            case "--tensor-type": try plan.addOverride(words.popFirst() ?? "")
            default: Issue.record("unknown llama-quantize option \(word)")
            }
        }
        return plan
    }

    static func fnv1a64(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func source() throws -> RWKV7Weights { try RWKV7Weights(try Checkpoint.open(Fixtures.path("\(directory)/source-f16.gguf"))) }

    /// The tensors `rwkv quantize` writes for `plan` (layer 0's dummy v0/v1/v2 included, as llama.cpp has them).
    static func quantized(_ source: RWKV7Weights, _ plan: QuantizationPlan) throws -> (weights: RWKV7Weights, written: [String: Tensor]) {
        let weights = try RWKV7Conversion.apply(source) { RWKV7Conversion.quantizeType($0, $1, to: plan) }
        let writer = try RWKV7GGUF.writer(for: weights, name: "q", fileType: plan.mainRecipe.fileType)
        return (weights, Dictionary(uniqueKeysWithValues: writer.tensors.map { ($0.name, $0.tensor) }))
    }

    /// Every file type (and the `--pure` and `--tensor-type` variants): the same type for every tensor as
    /// llama-quantize chose, and the same bytes.
    @Test func quantizeMatchesLlamaQuantize() throws {
        let source = try Self.source()
        let files = try Self.files()
        #expect(files.count == 19)
        for file in files where file.recipe != "f16" && !Self.readOnlyRecipes.contains(file.recipe) {
            let plan = try Self.plan(file.recipe, file.options)
            let written = try Self.quantized(source, plan).written
            #expect(Set(written.keys) == Set(file.rows.map(\.tensor)), "\(file.recipe) \(file.options): tensor names")
            for row in file.rows {
                guard let tensor = written[row.tensor] else { continue }
                #expect(tensor.dtype.description == row.type, "\(file.recipe) \(file.options): \(row.tensor) is \(tensor.dtype), llama-quantize wrote \(row.type)")
                #expect(Self.fnv1a64(tensor.bytes) == row.hash, "\(file.recipe) \(file.options): \(row.tensor) bytes differ from llama-quantize's")
            }
        }
    }

    /// llama-quantize's own Q4_K_M file loads, holds exactly the tensors `rwkv quantize` makes, and runs.
    @Test func llamaQuantizeFileLoads() throws {
        let checkpoint = try Checkpoint.open(Fixtures.path("\(Self.directory)/q4_k_m.gguf"))
        #expect(checkpoint.gguf?["general.file_type"]?.integer == 15)
        let file = try RWKV7Weights(checkpoint)
        let ours = try Self.quantized(try Self.source(), try QuantizationPlan(parsing: "q4_k_m")).weights
        #expect(Set(file.tensors.keys) == Set(ours.tensors.keys))
        for (name, tensor) in file.tensors {
            #expect(tensor.dtype == ours.tensors[name]?.dtype && tensor.bytes == ours.tensors[name]?.bytes, "\(name)")
        }
        let logits = try RWKV7Session(model: try RWKV7Model(file)).process(Self.tokens, chunk: 8, allLogits: true)
        #expect(logits.count == Self.tokens.count && logits.allSatisfy { row in row.allSatisfy { $0.isFinite } })
    }

    static let tokens: [Int32] = Array("Quantized files, bit for bit.".utf8).map(Int32.init)

    static func logits(_ weights: RWKV7Weights) throws -> LogitsDump {
        let rows = try RWKV7Session(model: try RWKV7Model(weights), threads: 2).process(tokens, chunk: 8, allLogits: true)
        return LogitsDump(tokens: tokens, vocabularySize: weights.hyperparameters.vocabularySize, logits: rows.flatMap { $0 })
    }

    /// Each file type's file (llama-quantize's bytes, shown above) against the same file dequantized to F32
    /// (our dequantizers equal gguf-py's, QuantizationTests): the logits differ only by the activations'
    /// quantization (Q8_0 / Q8_K) and summation order. Measured on this model: max |Δ| 0.05–0.14 and mean KL
    /// 1.2–2.5e-4 for the block types (Q2_K and Q3_K too, since they multiply against Q8_K), 0 for BF16; the
    /// bounds leave about 2× (a wrong sub-block scale or a missing minimum gives KL above 1e-2).
    @Test func quantizedFilesRunWithinNoiseOfTheirF32Dequantization() throws {
        let source = try Self.source()
        for file in try Self.files() where file.recipe != "f16" && !Self.readOnlyRecipes.contains(file.recipe) {
            let weights = try Self.quantized(source, try Self.plan(file.recipe, file.options)).weights
            let f32 = try RWKV7Conversion.apply(weights) { _, tensor in tensor.dtype == .i32 ? .i32 : .f32 }
            let comparison = try LogitsComparison(reference: try Self.logits(f32), candidate: try Self.logits(weights))
            print("\(file.recipe) \(file.options): max |Δ| \(comparison.maxAbsDifference), KL \(comparison.meanKL), top-1 \(comparison.top1Agreement)")
            let floatOnly = ["bf16"].contains(file.recipe)
            #expect(comparison.maxAbsDifference <= (floatOnly ? 1e-4 : 0.25), "\(file.recipe) \(file.options)")
            #expect(comparison.meanKL <= (floatOnly ? 1e-9 : 5e-4), "\(file.recipe) \(file.options)")
        }
    }

    /// llama-quantize's IQ4_XS file, with the attention's key and value in IQ4_NL (types `rwkv quantize` does
    /// not make): it loads with the types and bytes llama-quantize wrote, runs on the int8 kernels (IQ4_XS
    /// against Q8_K, IQ4_NL against Q8_0) and gives logits within quantization noise of the same file
    /// dequantized to F32, under the bounds of the test above.
    @Test func llamaQuantizeIQ4FileRunsWithinNoise() throws {
        let file = try RWKV7Weights(try Checkpoint.open(Fixtures.path("\(Self.directory)/iq4_xs.gguf")))
        let rows = try #require(try Self.files().first { $0.recipe == "iq4_xs" }).rows
        var types: Set<String> = []
        for row in rows {
            guard let tensor = file.tensors[row.tensor] else { continue }
            types.insert(tensor.dtype.description)
            #expect(tensor.dtype.description == row.type && Self.fnv1a64(tensor.bytes) == row.hash, "\(row.tensor)")
        }
        #expect(types.isSuperset(of: ["iq4_xs", "iq4_nl"]))
        let f32 = try RWKV7Conversion.apply(file) { _, tensor in tensor.dtype == .i32 ? .i32 : .f32 }
        let comparison = try LogitsComparison(reference: try Self.logits(f32), candidate: try Self.logits(file))
        print("iq4_xs: max |Δ| \(comparison.maxAbsDifference), KL \(comparison.meanKL), top-1 \(comparison.top1Agreement)")
        #expect(comparison.maxAbsDifference <= 0.25 && comparison.meanKL <= 5e-4)
    }
}
