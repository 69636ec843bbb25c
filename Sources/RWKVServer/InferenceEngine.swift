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
/// Each step prefills one chunk of one waiting prompt (in a slot of its own), then decodes one token of
/// every running sequence in a single batched graph step, so a long prompt never stalls the streams already
/// running. At most `parallel` sequences decode at once; up to `queueLimit` more wait, and a request beyond
/// that is refused (429). States at the ends of prompts and replies go into a ``StateCache``.
public final class InferenceEngine: @unchecked Sendable {
    public let codec: TextCodec
    public let parallel: Int
    public let queueLimit: Int
    public let prefillChunk: Int
    public let vocabularySize: Int
    let metrics: ServerMetrics
    private let batch: RWKV7Batch
    /// The slot where prompts are prefilled (after the `parallel` decode slots).
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
    private var prefilling: RunningSequence?
    private var decoding: [RunningSequence] = []
    private var cache: StateCache

    public init(model: RWKV7Model, codec: TextCodec, threads: Int, parallel: Int, queueLimit: Int, cacheBytes: Int,
                prefillChunk: Int = 128, contextLimit: Int = RWKV7Session.defaultContextLimit, metrics: ServerMetrics = ServerMetrics()) throws {
        guard parallel >= 1 else { throw ServerError(500, "--parallel must be at least 1") }
        self.codec = codec
        self.parallel = parallel
        self.queueLimit = queueLimit
        self.prefillChunk = max(1, prefillChunk)
        self.metrics = metrics
        vocabularySize = model.hyperparameters.vocabularySize
        batch = try RWKV7Batch(model: model, capacity: parallel + 1, threads: threads, contextLimit: contextLimit)
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
            while pending.isEmpty && waiting.isEmpty && prefilling == nil && decoding.isEmpty && !stopping { condition.wait() }
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
            runningCount = decoding.count + (prefilling == nil ? 0 : 1)
            metrics.queueDepth.set(Double(queued))
            metrics.running.set(Double(runningCount))
            condition.unlock()
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
        if prefilling?.request.isCancelled == true { prefilling = nil }
        for i in decoding.indices.reversed() where decoding[i].request.isCancelled { remove(at: i) }
    }

    /// Starts the next waiting prompt when a decode slot is free (from the longest cached prefix of its
    /// tokens), and prefills one chunk of it; a prompt whose prefill ends samples its first token and moves
    /// into the decode batch.
    private func prefillStep() throws {
        if prefilling == nil, decoding.count < parallel, !waiting.isEmpty {
            let request = waiting.removeFirst()
            // Waiting → running in one step, before its first token can reach the client: `load` never misses it.
            condition.lock()
            queued -= 1
            runningCount += 1
            condition.unlock()
            let hit = cache.lookup(request.job.promptTokens)
            if let hit {
                try batch.setState(hit.state, slot: prefillSlot)
                metrics.cacheHits.increment()
                metrics.cachedTokens.increment(by: Int64(hit.tokens))
            } else {
                batch.resetState(slot: prefillSlot)
                metrics.cacheMisses.increment()
            }
            metrics.promptTokens.increment(by: Int64(request.job.promptTokens.count))
            prefilling = RunningSequence(request: request, cachedTokens: hit?.tokens ?? 0)
        }
        guard var sequence = prefilling else { return }
        let chunk = Array(sequence.toPrefill.prefix(prefillChunk))
        let logits = try batch.prefill(slot: prefillSlot, chunk)
        sequence.toPrefill = sequence.toPrefill.dropFirst(chunk.count)
        sequence.fed += chunk
        guard sequence.toPrefill.isEmpty else {
            prefilling = sequence
            return
        }
        prefilling = nil
        cache.insert(sequence.fed, batch.state(slot: prefillSlot))
        metrics.cacheBytes.set(Double(cache.bytes))
        let slot = decoding.count
        batch.moveState(from: prefillSlot, to: slot)
        if take(&sequence, token: sequence.sampler.sample(logits.floats()), slot: slot) == nil { decoding.append(sequence) }
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
        let everyone = waiting + (prefilling.map { [$0.request] } ?? []) + decoding.map(\.request)
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
        prefilling = nil
        decoding.removeAll()
    }
}
