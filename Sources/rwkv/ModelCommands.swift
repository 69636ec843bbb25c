import ArgumentParser
import ModelFiles
import RWKVGraph
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// `rwkv convert`: any supported model file to an rwkv7 GGUF.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a .pth, .safetensors/.st, rwkv.cpp .bin or GGUF RWKV-7 model to GGUF.",
        discussion: "Without --type every tensor keeps its dtype (vectors, norms, w1/w2 and the fused mixes become F32, as llama.cpp writes them). See docs/cli.md for which tensors each --type changes."
    )

    @Argument(help: "Input model file.") var input: String
    @Argument(help: "Output .gguf file (written atomically).") var output: String
    @OptionGroup var precision: PrecisionOptions
    @Option(help: "World vocabulary file (rwkv_vocab_v20230424.txt) to store as GGUF tokenizer metadata (a GGUF input's own is kept otherwise).") var vocab: String?

    func validate() throws {
    }

    func run() throws {
        try reportingErrors {
            let checkpoint = try Checkpoint.open(input)
            let weights = try RWKV7Weights(checkpoint)
            // A GGUF input keeps its tokenizer unless --vocab replaces it.
            let vocabulary = try vocab.map { try WorldVocabulary(contentsOf: $0) } ?? checkpoint.gguf.flatMap { WorldVocabulary(gguf: $0) }
            let progress = ProgressBar(label: "convert")
            let plan = try precision.plan()
            let converted = try RWKV7Conversion.apply(weights, choose: { RWKV7Conversion.convertType($0, $1, to: plan) }, progress: progress.update)
            let writer = try RWKV7GGUF.writer(for: converted, name: stem(output), vocabulary: vocabulary, fileType: plan?.mainRecipe.fileType)
            try writer.write(to: output, progress: ProgressBar(label: "write").update)
            printErr("\(output): \(converted.hyperparameters.summary), \(formatBytes(writer.tensors.reduce(0) { $0 + $1.tensor.byteCount })) of tensors")
        }
    }
}

/// `rwkv quantize`: requantize the large matrices of a model.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's embedding, head and projection matrices as llama-quantize does for rwkv7.",
        discussion: "Types: \(QuantizationRecipe.all.map(\.name).joined(separator: ", ")). The head of a quantized type is Q6_K (Q8_0 for q8_0), unless --pure; rows that are not a whole number of blocks fall back as llama-quantize's do (q4_K to q5_0, q5_K to q5_1, q6_K to q8_0, q2_K/q3_K to q4_0, then f16). All other tensors are copied unchanged. docs/cli.md has the details."
    )

    @Argument(help: "Input model file (GGUF, or any format convert reads).") var input: String
    @Argument(help: "Output .gguf file (written atomically).") var output: String
    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        guard precision.type != nil else { throw ValidationError("quantize needs --type") }
    }

    func run() throws {
        try reportingErrors {
            let checkpoint = try Checkpoint.open(input)
            let weights = try RWKV7Weights(checkpoint)
            let vocabulary = checkpoint.gguf.flatMap { WorldVocabulary(gguf: $0) }
            let progress = ProgressBar(label: "quantize")
            guard let plan = try precision.plan() else { throw ValidationError("quantize needs --type") }
            let quantized = try RWKV7Conversion.apply(weights, choose: { RWKV7Conversion.quantizeType($0, $1, to: plan) }, progress: progress.update)
            let writer = try RWKV7GGUF.writer(for: quantized, name: stem(output), vocabulary: vocabulary, fileType: plan.mainRecipe.fileType)
            try writer.write(to: output, progress: ProgressBar(label: "write").update)
            printErr("\(output): \(formatBytes(writer.tensors.reduce(0) { $0 + $1.tensor.byteCount })) of tensors")
        }
    }
}

/// `rwkv info`: what a model file holds.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show a model file's format, hyperparameters and tensors.")

    @Argument(help: "Model file.") var model: String

    func run() throws {
        try reportingErrors {
            let checkpoint = try Checkpoint.open(model)
            let weights = try RWKV7Weights(checkpoint)
            let h = weights.hyperparameters
            var format = checkpoint.format.rawValue
            if let gguf = checkpoint.gguf { format += " v\(gguf.version), alignment \(gguf.alignment)" }
            print("file:        \(model)")
            print("format:      \(format)")
            print("model:       \(h.variant), \(h.layers) layers, n_embd \(h.embedding), \(h.heads) heads of \(h.headSize), vocabulary \(h.vocabularySize), FFN \(h.ffnSize)")
            print("LoRA ranks:  decay \(h.decayRank), iclr \(h.iclrRank), value \(h.valueRank), gate \(h.gateRank)")
            if h.deepEmbedRank > 0 { print("DeepEmbed:   rank \(h.deepEmbedRank) (per layer a \(h.deepEmbedRank * 32)-value row per token)") }
            if h.hasAttention {
                print("attention:   DeepEmbedAttention, queries and keys of \(h.attentionKeySize), compressed k/v of \(h.attentionCacheRank); the state grows by \((h.attentionKeySize + h.embedding) * h.layers * 4) bytes per token")
            }
            print("parameters:  \(h.parameterCount) (\(formatted(Double(h.parameterCount) / 1e6, 2)) M)")
            if let gguf = checkpoint.gguf {
                print("metadata:")
                for (key, value) in gguf.metadata { print("  \(key) = \(value.summary)") }
            }
            var table = MarkdownTable(["tensor", "dtype", "shape", "bytes"], rightAligned: [3])
            var total = 0
            for name in weights.orderedNames {
                let t = try weights.tensor(name)
                total += t.byteCount
                table.append([name, t.dtype.description, t.shape.description, "\(t.byteCount)"])
            }
            print(table.render())
            let perToken = weights.bytesPerToken
            print("total:       \(total) bytes (\(formatBytes(total)))")
            print("per token:   \(perToken) bytes read per decoded token (\(formatBytes(perToken)); every weight but the token tables, plus one row of each)")
            print("kernels:     \(KernelLevel.current) (this CPU supports \(KernelLevel.supported.map { "\($0)" }.joined(separator: ", ")); RWKV_ISA picks one)")
        }
    }
}

/// Runs `body`, turning a library error into a one-line message on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let error as ModelFileError {
        printErr("error: \(error)")
        throw ExitCode(1)
    } catch let error as TensorError {
        printErr("error: \(error)")
        throw ExitCode(1)
    } catch let error as ExecutionError {
        printErr("error: \(error)")
        throw ExitCode(1)
    } catch let error as GraphError {
        printErr("error: \(error)")
        throw ExitCode(1)
    } catch let error as PerplexityError {
        printErr("error: \(error)")
        throw ExitCode(1)
    }
}

func printErr(_ text: String, newline: Bool = true) {
    var line = newline ? text + "\n" : text
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func stem(_ path: String) -> String {
    let file = path.split(separator: "/").last.map(String.init) ?? path
    return file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file
}

func formatBytes(_ bytes: Int) -> String {
    bytes >= 1 << 30 ? formatted(Double(bytes) / Double(1 << 30), 2) + " GiB" : formatted(Double(bytes) / Double(1 << 20), 2) + " MiB"
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let label: String
    let enabled = isatty(2) != 0
    private var lastDrawn = -1

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let percent = done * 100 / total
        guard percent != lastDrawn else { return }
        lastDrawn = percent
        let filled = percent * 30 / 100
        printErr("\r\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 30 - filled))] \(percent)%", newline: done == total)
    }
}
