import Tensor

/// Runs a model over tokens with a recurrent state: prefill (chunks of many tokens) and decode (one).
///
/// Graphs are built once per (tokens per call, which logits) and cached; all executors share one worker
/// team and bind the same state buffers, so the state carries across calls.
public final class RWKV7Session {
    public let model: RWKV7Model
    public let threads: Int
    private let team: WorkerTeam
    private var executors: [Key: (executor: Executor, logits: Graph.Value, tokens: Tensor)] = [:]
    /// Per layer: the three state tensors bound to every executor.
    private let stateTensors: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]

    /// Executors kept at once (each holds a graph plan and an arena).
    static let maxCachedExecutors = 8

    private struct Key: Hashable {
        let tokens: Int
        let allLogits: Bool
    }

    public init(model: RWKV7Model, threads: Int = 1) throws {
        self.model = model
        self.threads = max(1, threads)
        team = WorkerTeam(threads: self.threads)
        let h = model.hyperparameters
        stateTensors = try (0..<h.layers).map { _ in
            (try Tensor(zeros: .f32, Shape(h.embedding)), try Tensor(zeros: .f32, Shape(h.embedding)),
             try Tensor(zeros: .f32, Shape(h.headSize, h.headSize, h.heads)))
        }
    }

    /// A copy of the current state.
    public var state: RWKV7State {
        get { RWKV7State(hyperparameters: model.hyperparameters, layers: stateTensors) }
        set {
            precondition(newValue.hyperparameters == model.hyperparameters, "state of another model")
            newValue.copy(into: stateTensors)
        }
    }

    /// Back to the zero state.
    public func reset() { state = RWKV7State(hyperparameters: model.hyperparameters) }

    /// Feeds `tokens` in calls of at most `chunk` tokens and returns the logits of every token
    /// (`allLogits`, a `[V]` row per token) or of the last one only.
    public func process(_ tokens: [Int32], chunk: Int = 512, allLogits: Bool = false) throws -> [[Float]] {
        guard !tokens.isEmpty else { throw ExecutionError("no tokens to process") }
        let vocabulary = model.hyperparameters.vocabularySize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw ExecutionError("token id \(bad) is outside the vocabulary (0..<\(vocabulary))")
        }
        var result: [[Float]] = []
        var start = 0
        let step = max(1, chunk)
        while start < tokens.count {
            let piece = Array(tokens[start..<min(tokens.count, start + step)])
            let isLast = start + piece.count == tokens.count
            let logits = try run(piece, allLogits: allLogits)
            if allLogits || isLast { result += logits }
            start += piece.count
        }
        return result
    }

    /// Decodes one token and returns its logits `[V]` as a view that the next call overwrites (no copy).
    public func step(_ token: Int32) throws -> Tensor {
        guard token >= 0, Int(token) < model.hyperparameters.vocabularySize else {
            throw ExecutionError("token id \(token) is outside the vocabulary (0..<\(model.hyperparameters.vocabularySize))")
        }
        return try runView([token], allLogits: false)
    }

    /// Runs one call of `tokens.count` tokens; the logits `[V, T']` stay in the executor's arena.
    private func runView(_ tokens: [Int32], allLogits: Bool) throws -> Tensor {
        let key = Key(tokens: tokens.count, allLogits: allLogits && tokens.count > 1)
        let entry: (executor: Executor, logits: Graph.Value, tokens: Tensor)
        if let cached = executors[key] {
            entry = cached
        } else {
            // Bound the cache (chat turns come in many lengths); decode's executor stays.
            if executors.count >= Self.maxCachedExecutors { executors = executors.filter { $0.key.tokens == 1 } }
            entry = try makeExecutor(key)
            executors[key] = entry
        }
        entry.tokens.withUnsafeMutableBytes { raw in
            tokens.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        try entry.executor.run()
        return try entry.executor.output(entry.logits)
    }

    /// Logits of one call of `tokens.count` tokens (one executor run).
    private func run(_ tokens: [Int32], allLogits: Bool) throws -> [[Float]] {
        let logits = try runView(tokens, allLogits: allLogits)
        let v = model.hyperparameters.vocabularySize
        let flat = logits.floats()
        return (0..<logits.shape[1]).map { Array(flat[($0 * v)..<($0 * v + v)]) }
    }

    private func makeExecutor(_ key: Key) throws -> (executor: Executor, logits: Graph.Value, tokens: Tensor) {
        let built = try RWKV7GraphBuilder(model: model, tokens: key.tokens, logitsForAllTokens: key.allLogits).build()
        let executor = Executor(graph: built.graph, team: team)
        let tokens = try Tensor(zeros: .i32, Shape(key.tokens))
        try executor.bind(built.tokens, tokens)
        for (slots, tensors) in zip(built.states, stateTensors) {
            try executor.bind(slots.attShift, tensors.attShift)
            try executor.bind(slots.ffnShift, tensors.ffnShift)
            try executor.bind(slots.wkv, tensors.wkv)
        }
        return (executor, built.logits, tokens)
    }
}
