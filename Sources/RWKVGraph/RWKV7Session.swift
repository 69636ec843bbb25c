import ModelFiles
import Tensor

/// Runs a model over tokens with a recurrent state: prefill (chunks of many tokens) and decode (one).
///
/// Graphs are built once per (tokens per call, which logits) and cached; all executors share one worker
/// team and bind the same state buffers, so the state carries across calls. An RWKV-7b model's state also
/// holds its attention context, of at most ``contextLimit`` tokens.
public final class RWKV7Session {
    public let model: RWKV7Model
    public let threads: Int
    /// RWKV-7b: the most tokens the attention context holds (its caches are allocated for this many).
    public let contextLimit: Int
    private let team: WorkerTeam
    private var executors: [Key: (executor: Executor, logits: Graph.Value, tokens: Tensor)] = [:]
    /// Per layer: the three state tensors bound to every executor.
    private let stateTensors: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]
    /// RWKV-7b, per layer: the attention's shift rows and caches; and the position (i32 [1]) the graphs read.
    private let attentionTensors: [AttentionTensors]
    private let positionTensor: Tensor
    /// Tokens in the attention context so far (RWKV-7b).
    public private(set) var position = 0

    /// Executors kept at once (each holds a graph plan and an arena).
    static let maxCachedExecutors = 8
    /// The default ``contextLimit``.
    public static let defaultContextLimit = 4096

    private struct Key: Hashable {
        let tokens: Int
        let allLogits: Bool
    }

    public init(model: RWKV7Model, threads: Int = 1, contextLimit: Int = RWKV7Session.defaultContextLimit) throws {
        self.model = model
        self.threads = max(1, threads)
        let h = model.hyperparameters
        guard !h.hasAttention || (1...Int(Int32.max)).contains(contextLimit) else {
            throw ExecutionError("the context limit must be at least 1, got \(contextLimit)")
        }
        self.contextLimit = contextLimit
        team = WorkerTeam(threads: self.threads)
        stateTensors = try (0..<h.layers).map { _ in
            (try Tensor(zeros: .f32, Shape(h.embedding)), try Tensor(zeros: .f32, Shape(h.embedding)),
             try Tensor(zeros: .f32, Shape(h.headSize, h.headSize, h.heads)))
        }
        attentionTensors = h.hasAttention ? try (0..<h.layers).map { _ in try AttentionTensors(h, capacity: contextLimit) } : []
        positionTensor = try Tensor(zeros: .i32, Shape(1))
    }

    /// A copy of the current state.
    public var state: RWKV7State {
        var state = RWKV7State(hyperparameters: model.hyperparameters, layers: stateTensors)
        state.readAttention(from: attentionTensors, position: position)
        return state
    }

    /// Continues from `state` (saved from a model of the same shape); an RWKV-7b context longer than
    /// ``contextLimit`` is refused.
    public func restore(_ state: RWKV7State) throws {
        guard state.hyperparameters == model.hyperparameters else {
            throw ExecutionError("the state is for a model \(state.hyperparameters.summary), not \(model.hyperparameters.summary)")
        }
        guard state.position <= contextLimit else {
            throw ExecutionError("the state holds \(state.position) tokens of context, more than the context limit of \(contextLimit)")
        }
        state.copy(into: stateTensors)
        state.writeAttention(into: attentionTensors)
        position = state.position
    }

    /// Back to the zero state.
    public func reset() {
        for tensor in stateTensors.flatMap({ [$0.attShift, $0.ffnShift, $0.wkv] }) + attentionTensors.flatMap(\.shifts) {
            tensor.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        position = 0
    }

    /// Feeds `tokens` in calls of at most `chunk` tokens and returns the logits of every token
    /// (`allLogits`, a `[V]` row per token) or of the last one only.
    public func process(_ tokens: [Int32], chunk: Int = 512, allLogits: Bool = false) throws -> [[Float]] {
        guard !tokens.isEmpty else { throw ExecutionError("no tokens to process") }
        let vocabulary = model.hyperparameters.vocabularySize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw ExecutionError("token id \(bad) is outside the vocabulary (0..<\(vocabulary))")
        }
        try checkContext(adding: tokens.count)
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
        try checkContext(adding: 1)
        return try runView([token], allLogits: false)
    }

    /// RWKV-7b: whether the context holds ``contextLimit`` tokens, so that no more can be fed (always false for
    /// other models).
    public var isContextFull: Bool { !attentionTensors.isEmpty && position >= contextLimit }

    /// RWKV-7b: refuses `count` more tokens past the context limit (other models have no limit).
    private func checkContext(adding count: Int) throws {
        guard !attentionTensors.isEmpty, position + count > contextLimit else { return }
        throw ExecutionError("the context limit of \(contextLimit) tokens is reached: \(position) in the state and \(count) more given (raise --ctx-limit)")
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
        positionTensor.withUnsafeMutableBytes { $0.storeBytes(of: Int32(position), as: Int32.self) }
        try entry.executor.run()
        if !attentionTensors.isEmpty { position += tokens.count }
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
        var builder = RWKV7GraphBuilder(model: model, tokens: key.tokens, logitsForAllTokens: key.allLogits)
        builder.contextCapacity = contextLimit
        let built = try builder.build()
        let executor = Executor(graph: built.graph, team: team)
        let tokens = try Tensor(zeros: .i32, Shape(key.tokens))
        try executor.bind(built.tokens, tokens)
        for (slots, tensors) in zip(built.states, stateTensors) {
            try executor.bind(slots.attShift, tensors.attShift)
            try executor.bind(slots.ffnShift, tensors.ffnShift)
            try executor.bind(slots.wkv, tensors.wkv)
        }
        for (slots, tensors) in zip(built.states.compactMap(\.attention), attentionTensors) {
            try tensors.bind(slots, to: executor)
        }
        if let position = built.position { try executor.bind(position, positionTensor) }
        return (executor, built.logits, tokens)
    }
}
