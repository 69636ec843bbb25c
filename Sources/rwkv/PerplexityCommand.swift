import ArgumentParser
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// `rwkv perplexity`: a model's perplexity on a text, and its divergence from a base, as llama-perplexity.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text (non-overlapping chunks, the second half of each scored), and with --base its KL divergence, top-1 agreement and Δp against a base model or dump.",
        discussion: "As llama-perplexity: chunks of --ctx tokens from a fresh state; position i predicts token i + 1 for i from ctx/2 to ctx − 2. PPL = exp(mean NLL) ± PPL·σ/√(n − 1). --save-logits writes the scored positions' logits for a later --base.")

    @Option(name: .shortAndLong, help: "Model file (GGUF, .pth, .safetensors/.st or rwkv.cpp .bin).") var model: String
    @Option(name: .customShort("f"), help: "Text file (UTF-8).") var file: String
    @Option(help: "Tokens per chunk.") var ctx = 512
    @Option(help: "Largest number of chunks (default: every whole chunk of the text).") var chunks: Int?
    @Option(help: "Base model file, or a dump from --save-logits, to compare against (same text and --ctx).") var base: String?
    @Option(help: "Write the scored positions' logits (safetensors) for a later --base.") var saveLogits: String?
    @Option(help: "World vocabulary file, for a model file that has none.") var vocab: String?
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var threads = 1
    /// The precision to run the model at (the base runs as it is).
    @OptionGroup var precision: PrecisionOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        guard (4...1_048_576).contains(ctx) else { throw ValidationError("--ctx must be 4…1048576") }
        guard chunks.map({ $0 >= 1 }) ?? true else { throw ValidationError("--chunks must be at least 1") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1…1024") }
    }

    func run() throws {
        try reportingErrors {
            let checkpoint = try Checkpoint.open(model)
            let plan = try precision.plan()
            let weights = try RWKV7Weights(checkpoint).converted(toRunAt: plan)
            let vocabularySize = weights.hyperparameters.vocabularySize
            let codec = try TextCodec.forModel(checkpoint, vocabularySize: vocabularySize, vocabularyPath: vocab)
            // An RWKV-7b context holds one chunk at a time.
            let session = try RWKV7Session(model: try RWKV7Model(weights), threads: threads,
                                           contextLimit: max(RWKV7Session.defaultContextLimit, ctx))
            let text = try readText(file)
            var measurement = try PerplexityMeasurement(context: ctx)
            let pieces = try measurement.chunks(of: codec.encode(text), limit: chunks)
            let scoredInputs = pieces.flatMap { $0.dropFirst(measurement.firstScored) }
            let baseSource = try base.map { try BaseLogits(path: $0, threads: threads, vocabularySize: vocabularySize, scoredInputs: scoredInputs, context: ctx) }

            let progress = ProgressBar(label: "perplexity")
            var saved: [Float] = []
            for (index, piece) in pieces.enumerated() {
                let logits = try session.scoredLogits(piece, firstScored: measurement.firstScored)
                let baseRows = try baseSource?.rows(chunk: index, piece, firstScored: measurement.firstScored)
                try measurement.add(chunk: piece, logits: logits, base: baseRows)
                if saveLogits != nil { saved += logits.joined() }
                progress.update(index + 1, pieces.count)
            }
            if let saveLogits {
                try LogitsDump(tokens: scoredInputs, vocabularySize: vocabularySize, logits: saved).write(to: saveLogits)
            }
            let report = measurement.report
            let type = plan?.description ?? (weights.tensors["token_embd.weight"]?.dtype.description ?? "f32")
            if json {
                try printJSON(PerplexityOutput(model: model, type: type, base: base, report: report))
            } else {
                print(Self.table(model: stem(model), type: type, base: base.map(stem), report: report))
            }
        }
    }

    func readText(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelFileError(path, "cannot read the text file") }
        guard String(validating: data, as: UTF8.self) != nil else { throw ModelFileError(path, "the text is not valid UTF-8") }
        return Array(data)
    }

    static func table(model: String, type: String, base: String?, report: PerplexityReport) -> String {
        var table = MarkdownTable(["model", "type", "ctx", "chunks", "tokens scored", "PPL"], rightAligned: [2, 3, 4, 5])
        table.append([model, type, "\(report.context)", "\(report.chunks)", "\(report.scoredTokens)",
                      "\(formatted(report.perplexity, 4)) ± \(formatted(report.perplexityError, 4))"])
        guard let b = report.base, let base else { return table.render() }
        var comparison = MarkdownTable(["against \(base)", "value"], rightAligned: [1])
        let percent = { (x: Double) in formatted(100 * x, 3) + " %" }
        let small = { (x: Double) in String(format: "%.4e", x) }
        comparison.append(["PPL(base)", "\(formatted(b.perplexity, 4)) ± \(formatted(b.perplexityError, 4))"])
        comparison.append(["mean KL(base ‖ model)", "\(small(b.meanKL)) ± \(small(b.meanKLError))"])
        comparison.append(["median KL", small(b.medianKL)])
        comparison.append(["99 % KL", small(b.kl99)])
        comparison.append(["99.9 % KL", small(b.kl999)])
        comparison.append(["max KL", small(b.maxKL)])
        comparison.append(["same top-1", "\(percent(b.sameTop)) ± \(percent(b.sameTopError))"])
        comparison.append(["mean Δp", "\(percent(b.meanDeltaP)) ± \(percent(b.meanDeltaPError))"])
        comparison.append(["RMS Δp", percent(b.rmsDeltaP)])
        comparison.append(["0.1 % / median / 99.9 % Δp", "\(percent(b.deltaP001)) / \(percent(b.medianDeltaP)) / \(percent(b.deltaP999))"])
        return table.render() + "\n\n" + comparison.render()
    }
}

/// The `--json` output.
struct PerplexityOutput: Encodable {
    let model: String
    let type: String
    let base: String?
    let report: PerplexityReport
}

/// The base's logits at the scored positions: from a model run chunk by chunk, or from a dump.
enum BaseLogits {
    case model(RWKV7Session)
    case dump(LogitsDump)

    /// A dump written by `--save-logits` for the same scored tokens, or a model of the same vocabulary.
    init(path: String, threads: Int, vocabularySize: Int, scoredInputs: [Int32], context: Int) throws {
        if let dump = try? LogitsDump.read(path) {
            guard dump.vocabularySize == vocabularySize else {
                throw PerplexityError("\(path): the dump has \(dump.vocabularySize) logits per token, the model \(vocabularySize)")
            }
            guard dump.tokens.count >= scoredInputs.count, Array(dump.tokens.prefix(scoredInputs.count)) == scoredInputs else {
                throw PerplexityError("\(path): the dump is not of this text's scored tokens at this --ctx (written by --save-logits with other input?)")
            }
            self = .dump(dump)
            return
        }
        let weights = try RWKV7Weights(try Checkpoint.open(path))
        guard weights.hyperparameters.vocabularySize == vocabularySize else {
            throw PerplexityError("\(path): the base has a vocabulary of \(weights.hyperparameters.vocabularySize), the model \(vocabularySize)")
        }
        self = .model(try RWKV7Session(model: try RWKV7Model(weights), threads: threads,
                                       contextLimit: max(RWKV7Session.defaultContextLimit, context)))
    }

    func rows(chunk index: Int, _ piece: ArraySlice<Int32>, firstScored: Int) throws -> [[Float]] {
        switch self {
        case .model(let session): return try session.scoredLogits(piece, firstScored: firstScored)
        case .dump(let dump):
            let perChunk = piece.count - firstScored
            return (0..<perChunk).map { Array(dump.row(index * perChunk + $0)) }
        }
    }
}
