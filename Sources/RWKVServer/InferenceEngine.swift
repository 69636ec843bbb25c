import Foundation
import RWKVGraph
import Tensor

/// A refused or failed request: an HTTP status and an OpenAI-style error.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let message: String
    /// OpenAI's `type`: `invalid_request_error`, `not_found_error`, `rate_limit_error`, `server_error`.
    public let type: String
    /// The request field at fault, if any.
    public let param: String?
    public let code: String?

    public var description: String { message }

    public init(_ status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        (self.status, self.message, self.type, self.param, self.code) = (status, message, type, param, code)
    }
}

/// Continuous batching of many generations on one model, on a thread of its own (never on the HTTP event
/// loops): requests join the running batch at any step and leave it when they finish or are cancelled.
///
/// Each step prefills up to `prefillChunk` prompt tokens — a piece of the first waiting prompt, or equal
/// pieces of several short ones in one graph (each in a slot of its own) — then decodes one token of every
/// running sequence in a single batched graph step, so a long prompt never stalls the streams already
/// running. At most `parallel` sequences run at once; up to `queueLimit` more wait, and a request beyond
/// that is refused (429). States at the ends of prompts and replies go into a ``StateCache``.
public final class InferenceEngine: @unchecked Sendable {
    public let codec: TextCodec
    public let parallel: Int
    public let queueLimit: Int
    public let prefillChunk: Int
    public let vocabularySize: Int
    let metrics: ServerMetrics
    private let batch: RWKV7Batch
    /// Prompts prefilled in one graph at most (and slots for prompts being prefilled).
    public let prefillSequences: Int
    /// The first of the `prefillSequences` slots where prompts are prefilled (after the `parallel` decode slots).
    private var prefillSlot: Int { parallel }

    // Shared with submitters, under `condition`.
    private let condition = NSCondition()
    private var pending: [GenerationRequest] = []
    /// Requests submitted and not yet started (pending here or waiting in the loop).
    private var queued = 0
    private var stopping = false
    private var started = false
    private let stopped = DispatchSemaphore(value: 0)

    // The loop's own.
    private var waiting: [GenerationRequest] = []
    /// Prompts being prefilled: `prefilling[i]` in slot `prefillSlot + i`.
    private var prefilling: [RunningSequence] = []
    private var decoding: [RunningSequence] = []
    private var cache: StateCache
    /// Called on the scheduling thread after every step, while no other step runs (set before ``start()``):
    /// a test can act between two steps, e.g. cancel a request at a known point of its prefill.
    public var afterStep: (@Sendable () -> Void)?

    public init(model: RWKV7Model, codec: TextCodec, threads: Int, parallel: Int, queueLimit: Int, cacheBytes: Int,
                prefillChunk: Int = 128, prefillSequences: Int = 8, contextLimit: Int = RWKV7Session.defaultContextLimit,
                metrics: ServerMetrics = ServerMetrics()) throws {
        guard parallel >= 1 else { throw ServerError(500, "--parallel must be at least 1") }
        self.codec = codec
        self.parallel = parallel
        self.queueLimit = queueLimit
        self.prefillChunk = max(1, prefillChunk)
        self.metrics = metrics
        vocabularySize = model.hyperparameters.vocabularySize
        self.prefillSequences = min(parallel, max(1, prefillSequences))
        batch = try RWKV7Batch(model: model, capacity: parallel + self.prefillSequences, threads: threads, contextLimit: contextLimit)
        cache = StateCache(capacityBytes: cacheBytes)
    }

    /// Starts the scheduling thread (once).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in
            loop()
            stopped.signal()
        }
        thread.name = "rwkv-scheduler"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Stops the thread: running and waiting requests end with a failure event. Later submissions get 503.
    public func shutdown() {
        condition.lock()
        let wasRunning = started && !stopping
        stopping = true
        condition.signal()
        condition.unlock()
        if wasRunning { stopped.wait() }
    }

    /// Queues `job`; its events arrive on the returned stream. Throws 429 when the queue is full.
    public func submit(_ job: GenerationJob) throws(ServerError) -> AsyncStream<GenerationEvent> {
        guard !job.promptTokens.isEmpty else { throw ServerError(400, "the prompt is empty", param: "prompt") }
        if let bad = job.promptTokens.first(where: { $0 < 0 || Int($0) >= vocabularySize }) {
            throw ServerError(400, "token id \(bad) is outside the vocabulary (0..<\(vocabularySize))", param: "prompt")
        }
        // RWKV-7b: a prompt must fit in a sequence's context.
        if batch.hasContextLimit && job.promptTokens.count > batch.contextLimit {
            throw ServerError(400, "the prompt has \(job.promptTokens.count) tokens, more than the context limit of \(batch.contextLimit)", param: "prompt")
        }
        let (stream, continuation) = AsyncStream.makeStream(of: GenerationEvent.self, bufferingPolicy: .unbounded)
        let request = GenerationRequest(job: job, continuation: continuation)
        continuation.onTermination = { @Sendable _ in request.cancel() }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw ServerError(503, "the server is shutting down", type: "server_error") }
        guard queued < queueLimit else {
            metrics.rejected.increment()
            throw ServerError(429, "the server is busy: \(parallel) sequences running and \(queued) waiting; retry later",
                              type: "rate_limit_error", code: "rate_limit_exceeded")
        }
        queued += 1
        pending.append(request)
        metrics.queueDepth.set(Double(queued))
        condition.signal()
        return stream
    }

    /// Sequences running now (prefilling or decoding) and requests waiting.
    public var load: (running: Int, waiting: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (runningCount, queued)
    }

    private var runningCount = 0

    // MARK: - The loop

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && waiting.isEmpty && prefilling.isEmpty && decoding.isEmpty && !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                failAll("the server is shutting down")
                return
            }
            waiting += pending
            pending.removeAll()
            condition.unlock()
            do {
                dropCancelled()
                try prefillStep()
                try decodeStep()
            } catch {
                failAll("inference failed: \(error)")
            }
            condition.lock()
            runningCount = decoding.count + prefilling.count
            metrics.queueDepth.set(Double(queued))
            metrics.running.set(Double(runningCount))
            condition.unlock()
            afterStep?()
        }
    }

    /// Frees the slots of cancelled requests (clients gone) and forgets cancelled waiting ones.
    private func dropCancelled() {
        let gone = waiting.filter(\.isCancelled).count
        if gone > 0 {
            waiting.removeAll(where: \.isCancelled)
            condition.lock()
            queued -= gone
            condition.unlock()
        }
        for i in prefilling.indices.reversed() where prefilling[i].request.isCancelled { removePrefilling(at: i) }
        for i in decoding.indices.reversed() where decoding[i].request.isCancelled { remove(at: i) }
    }

    /// Starts waiting prompts while decode slots are free (each from the longest cached prefix of its tokens),
    /// and prefills up to `prefillChunk` of their tokens, in groups of prompts whose next pieces are equal
    /// (``prefillGroup(pieces:budget:mostSequences:)``).
    private func prefillStep() throws {
        while prefilling.count < prefillSequences, decoding.count + prefilling.count < parallel, !waiting.isEmpty {
            let request = waiting.removeFirst()
            // Waiting → running in one step, before its first token can reach the client: `load` never misses it.
            condition.lock()
            queued -= 1
            runningCount += 1
            condition.unlock()
            let slot = prefillSlot + prefilling.count
            let hit = cache.lookup(request.job.promptTokens)
            if let hit {
                try batch.setState(hit.state, slot: slot)
                metrics.cacheHits.increment()
                metrics.cachedTokens.increment(by: Int64(hit.tokens))
            } else {
                batch.resetState(slot: slot)
                metrics.cacheMisses.increment()
            }
            metrics.promptTokens.increment(by: Int64(request.job.promptTokens.count))
            prefilling.append(RunningSequence(request: request, cachedTokens: hit?.tokens ?? 0))
        }
        var budget = prefillChunk
        while let group = Self.prefillGroup(pieces: prefilling.map { Self.piece($0.toPrefill.count, budget: prefillChunk) },
                                            budget: budget, mostSequences: prefillSequences) {
            try prefill(group.members, length: group.length)
            budget -= group.members.count * group.length
        }
    }

    /// The next piece of a prompt with `remaining` tokens left: the largest power of two up to the budget (at
    /// most 256). A prompt's pieces depend on its own length only, so its logits are the same bits alone or
    /// beside others (the batched prefill multiplies each sequence as alone, but not every kernel gives the
    /// same bits for pieces of other lengths).
    public static func piece(_ remaining: Int, budget: Int) -> Int {
        let most = min(remaining, max(1, budget), RWKV7Batch.prefillChunk)
        return 1 << (Int.bitWidth - 1 - most.leadingZeroBitCount)
    }

    /// The prompts (indices, in order) whose next pieces to prefill together, and that piece's length, given
    /// every prefilling prompt's next piece: of the prompts with equal pieces, 1, 2, 4 or 8 (at most
    /// `mostSequences`), at most `budget` tokens in all, the group that feeds the most tokens (on a tie, the
    /// one with the earliest prompt); nil when nothing more fits. So a long prompt takes the whole budget
    /// alone, and short ones share a graph whose matmuls see several prompts' columns instead of a few.
    public static func prefillGroup(pieces: [Int], budget: Int, mostSequences: Int) -> (members: [Int], length: Int)? {
        var best: (members: [Int], length: Int)?
        for length in Set(pieces).sorted(by: >) {
            let candidates = pieces.indices.filter { pieces[$0] == length }
            var count = 1
            while count * 2 <= min(candidates.count, mostSequences) && count * 2 * length <= budget { count *= 2 }
            guard length <= budget else { continue }
            let members = Array(candidates.prefix(count))
            if let current = best {
                let (tokens, bestTokens) = (count * length, current.members.count * current.length)
                guard tokens > bestTokens || (tokens == bestTokens && members[0] < current.members[0]) else { continue }
            }
            best = (members, length)
        }
        return best
    }

    /// Prefills the next `length` tokens of the prompts `members` (indices into `prefilling`, ascending) in one
    /// graph, after moving them into the first prefill slots; those whose prompts end sample their first
    /// token and move into the decode batch.
    private func prefill(_ members: [Int], length: Int) throws {
        for (position, member) in members.enumerated() where member != position {
            batch.swapStates(prefillSlot + position, prefillSlot + member)
            prefilling.swapAt(position, member)
        }
        let count = members.count
        let pieces = prefilling[..<count].map { Array($0.toPrefill.prefix(length)) }
        let logits = try batch.prefill(firstSlot: prefillSlot, pieces).floats()
        metrics.prefillBatchSize.set(Double(count))
        var finished: [Int] = []
        for i in 0..<count {
            prefilling[i].toPrefill = prefilling[i].toPrefill.dropFirst(length)
            prefilling[i].fed += pieces[i]
            if prefilling[i].toPrefill.isEmpty { finished.append(i) }
        }
        let v = vocabularySize
        for i in finished {
            var sequence = prefilling[i]
            cache.insert(sequence.fed, batch.state(slot: prefillSlot + i))
            metrics.cacheBytes.set(Double(cache.bytes))
            let slot = decoding.count
            batch.moveState(from: prefillSlot + i, to: slot)
            if take(&sequence, token: sequence.sampler.sample(Array(logits[(i * v)..<((i + 1) * v)])), slot: slot) == nil {
                decoding.append(sequence)
            }
        }
        for i in finished.reversed() { removePrefilling(at: i) }
    }

    /// Removes prefilling prompt `i`, moving the last one into its slot.
    private func removePrefilling(at i: Int) {
        let last = prefilling.count - 1
        if i != last {
            batch.moveState(from: prefillSlot + last, to: prefillSlot + i)
            prefilling[i] = prefilling[last]
        }
        prefilling.removeLast()
    }

    /// One token of every decoding sequence, in one batched step.
    private func decodeStep() throws {
        guard !decoding.isEmpty else { return }
        let start = ContinuousClock.now
        let logits = try batch.decode(decoding.map(\.next))
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        metrics.batchSize.set(Double(decoding.count))
        metrics.decodeTokensPerSecond.set(Double(decoding.count) / max(seconds, 1e-9))
        for i in decoding.indices { decoding[i].fed.append(decoding[i].next) }
        let tokens = sampleAll(logits)
        var finished: [Int] = []
        for i in decoding.indices where take(&decoding[i], token: tokens[i], slot: i) != nil { finished.append(i) }
        for i in finished.reversed() { remove(at: i) }
    }

    /// Each decoding sequence's next token from its column of `logits` ([V, S], read in place), the sequences
    /// sampled on all cores at once (each with its own sampler, so the draws do not depend on the others).
    private func sampleAll(_ logits: Tensor) -> [Int32] {
        let count = decoding.count, v = vocabularySize
        var tokens = [Int32](repeating: 0, count: count)
        decoding.withUnsafeMutableBufferPointer { sequences in
            tokens.withUnsafeMutableBufferPointer { out in
                logits.withUnsafeBytes { raw in
                    // Disjoint elements per iteration.
                    nonisolated(unsafe) let (sequences, out, columns) = (sequences, out, raw.bindMemory(to: Float.self))
                    DispatchQueue.concurrentPerform(iterations: count) { i in
                        out[i] = sequences[i].sampler.sample(Array(columns[(i * v)..<((i + 1) * v)]))
                    }
                }
            }
        }
        return tokens
    }

    /// Takes the sequence's sampled `token`; returns the finish reason when it ends (its state, in `slot`,
    /// then goes into the cache under the tokens it consumed).
    private func take(_ sequence: inout RunningSequence, token: Int32, slot: Int) -> FinishReason? {
        if !sequence.sentFirstToken {
            sequence.sentFirstToken = true
            metrics.timeToFirstToken.record(ContinuousClock.now - sequence.request.arrival)
        }
        var reason = sequence.accept(token, bytes: codec.bytes(of: token))
        // RWKV-7b: a full context cannot take the token just sampled; the reply ends there.
        if reason == nil && batch.isContextFull(slot: slot) { reason = sequence.finish(.length) }
        if token != 0 { metrics.generatedTokens.increment() }
        if reason != nil {
            cache.insert(sequence.fed, batch.state(slot: slot))
            metrics.cacheBytes.set(Double(cache.bytes))
        }
        return reason
    }

    /// Removes decoding sequence `i`, moving the last one into its slot.
    private func remove(at i: Int) {
        let last = decoding.count - 1
        if i != last {
            batch.moveState(from: last, to: i)
            decoding[i] = decoding[last]
        }
        decoding.removeLast()
    }

    private func failAll(_ message: String) {
        let everyone = waiting + prefilling.map(\.request) + decoding.map(\.request)
        condition.lock()
        let stillPending = pending
        pending.removeAll()
        queued = 0
        condition.unlock()
        for request in everyone + stillPending {
            request.continuation.yield(.failed(message))
            request.continuation.finish()
        }
        waiting.removeAll()
        prefilling.removeAll()
        decoding.removeAll()
    }
}
