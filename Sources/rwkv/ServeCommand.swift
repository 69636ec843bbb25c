import ArgumentParser
import Foundation
import ModelFiles
import RWKVGraph
import RWKVServer
import Tensor

/// `rwkv serve`: the OpenAI-compatible server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over an OpenAI-compatible HTTP API, many requests at once.",
        discussion: """
            Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true for \
            server-sent events), GET /health, GET /metrics (Prometheus). Up to --parallel sequences decode \
            together in one batched step (continuous batching: requests join and leave at every step; prompts are \
            prefilled in chunks between decode steps); up to --queue more wait, beyond that a request gets 429. \
            States at the ends of prompts and replies are cached (--cache-mib), so a conversation's next turn \
            prefills only its new tokens. Sampling defaults are RWKV's (top_p 0.7, presence 0.1, frequency 0.2, \
            penalty_decay 0.996) where a request gives none.
            """)

    @Option(name: .shortAndLong, help: "Model file (GGUF, .pth, .safetensors/.st or rwkv.cpp .bin).") var model: String
    @Option(help: "World vocabulary file, for a model file that has none.") var vocab: String?
    @OptionGroup var precision: PrecisionOptions
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var threads = 2
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 = any free port, printed at start).") var port = 8080
    @Option(help: "Sequences decoded together at most.") var parallel = 8
    @Option(help: "Requests waiting for a sequence at most (then 429).") var queue = 128
    @Option(help: "Most tokens of a prompt, and most max_tokens.") var ctxLimit = 16384
    @Option(help: "max_tokens when a request gives none.") var maxTokens = 512
    @Option(help: "Memory for cached states, MiB (0 = no cache).") var cacheMib = 512
    @Option(help: "Prompt tokens prefilled between two decode steps.") var prefillChunk = 128
    @Option(help: "Prompts prefilled together in one graph at most (groups of 1, 2, 4, 8 …).") var prefillSequences = 8
    @Option(help: "The model's id in the API (default: the file's name).") var name: String?
    @Flag(help: "Chat in the G1 reasoning format (Assistant: <think) unless a request says \"reasoner\": false.") var reasoner = false

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1…1024") }
        guard (1...256).contains(parallel) else { throw ValidationError("--parallel must be 1…256") }
        guard (0...100_000).contains(queue) else { throw ValidationError("--queue must be 0…100000") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard ctxLimit >= 1, (1...ctxLimit).contains(maxTokens) else { throw ValidationError("--max-tokens must be 1…--ctx-limit") }
        guard (0...1 << 20).contains(cacheMib) else { throw ValidationError("--cache-mib must be 0…1048576") }
        guard (1...4096).contains(prefillChunk) else { throw ValidationError("--prefill-chunk must be 1…4096") }
        guard (1...64).contains(prefillSequences) else { throw ValidationError("--prefill-sequences must be 1…64") }
    }

    func run() async throws {
        let server: OpenAIServer
        do {
            let checkpoint = try Checkpoint.open(model)
            let weights = try RWKV7Weights(checkpoint).converted(toRunAt: try precision.plan())
            let codec = try TextCodec.forModel(checkpoint, vocabularySize: weights.hyperparameters.vocabularySize, vocabularyPath: vocab)
            let engine = try InferenceEngine(model: try RWKV7Model(weights), codec: codec, threads: threads, parallel: parallel,
                                             queueLimit: queue, cacheBytes: cacheMib << 20, prefillChunk: prefillChunk, prefillSequences: prefillSequences,
                                             contextLimit: ctxLimit)
            let id = name ?? URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
            server = OpenAIServer(engine: engine, options: ServerOptions(modelName: id, contextLimit: ctxLimit, defaultMaxTokens: maxTokens,
                                                                         reasoner: reasoner))
        } catch {
            try reportingErrors { throw error }
            throw error
        }
        server.engine.start()
        defer { server.engine.shutdown() }
        let modelName = server.options.modelName
        try await server.application(host: host, port: port) { [host, parallel, threads] boundPort in
            printErr("rwkv serve: \(modelName) on http://\(host):\(boundPort) (\(parallel) parallel sequences, \(threads) threads, kernels \(KernelLevel.current))")
        }.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
