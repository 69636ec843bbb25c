import Foundation
import ModelFiles
import RWKVGraph
import RWKVServer
import Testing

/// The project's own model (byte-level, 256 tokens), shared by the server tests.
enum ProjectModel {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/rwkv7-tiny-stories.gguf").path
    static let model = Result { try RWKV7Model(path: path) }

    static func engine(parallel: Int, queue: Int = 64, cacheMiB: Int = 64, prefillChunk: Int = 32) throws -> InferenceEngine {
        let engine = try InferenceEngine(model: try model.get(), codec: .bytes, threads: 2, parallel: parallel, queueLimit: queue,
                                         cacheBytes: cacheMiB << 20, prefillChunk: prefillChunk)
        engine.start()
        return engine
    }

    static func job(_ prompt: String, maxTokens: Int, seed: UInt64 = 1, temperature: Float = 1, ignoreEndOfText: Bool = false) -> GenerationJob {
        var sampler = SamplerSettings()
        sampler.seed = seed
        sampler.temperature = temperature
        sampler.bansEndOfText = ignoreEndOfText
        return GenerationJob(promptTokens: Array(prompt.utf8).map(Int32.init), maxTokens: maxTokens, sampler: sampler)
    }
}

/// Everything a stream reported: its text and how it ended.
struct Outcome: Equatable {
    var text = ""
    var usage: Usage?
    var reason: FinishReason?
    var failure: String?

    static func collect(_ events: AsyncStream<GenerationEvent>) async -> Outcome {
        var outcome = Outcome()
        for await event in events {
            switch event {
            case .text(let piece): outcome.text += piece
            case .finished(let usage, let reason): (outcome.usage, outcome.reason) = (usage, reason)
            case .failed(let message): outcome.failure = message
            }
        }
        return outcome
    }
}

/// What `InferenceEngine.afterStep` saw, and the streams it lets go.
final class StepLog: @unchecked Sendable {
    let lock = NSLock()
    var steps = 0
    var stepsWithBoth = 0
    var late: AsyncStream<GenerationEvent>?
    var loadAfterFirstStep: (running: Int, waiting: Int)?
    var doomed: [AsyncStream<GenerationEvent>] = []
}

/// Waits until `condition` holds (polling), at most `seconds`.
func eventually(_ seconds: Double = 20, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite struct EngineTests {
    static let prompts = ["Once upon a time", "The little dog", "Lily and Tom went to the park. They", "One day, a", "Sam had a red ball",
                          "The sun was hot", "Mom said", "There was a big tree"]

    /// Eight requests of different lengths at once, joining and leaving a batch of 3: each one's text is the
    /// text it gets alone (parallel 1), sampled with the same seed — the batch changes no bit of its logits.
    @Test func batchedRequestsGiveTheTextsTheyGetAlone() async throws {
        let alone = try ProjectModel.engine(parallel: 1)
        defer { alone.shutdown() }
        var expected: [Outcome] = []
        for (i, prompt) in Self.prompts.enumerated() {
            expected.append(await Outcome.collect(try alone.submit(ProjectModel.job(prompt, maxTokens: 20 + 7 * i, seed: UInt64(i)))))
        }
        let batched = try ProjectModel.engine(parallel: 3, cacheMiB: 0)
        defer { batched.shutdown() }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for (i, prompt) in Self.prompts.enumerated() {
                let stream = try batched.submit(ProjectModel.job(prompt, maxTokens: 20 + 7 * i, seed: UInt64(i)))
                group.addTask { (i, await Outcome.collect(stream)) }
            }
            var result = [Outcome](repeating: Outcome(), count: Self.prompts.count)
            for try await (i, outcome) in group { result[i] = outcome }
            return result
        }
        for i in Self.prompts.indices {
            #expect(outcomes[i].text == expected[i].text, "request \(i)")
            #expect(outcomes[i].reason == expected[i].reason && outcomes[i].usage?.completionTokens == expected[i].usage?.completionTokens)
        }
        #expect(outcomes.allSatisfy { $0.failure == nil && $0.usage != nil })
        #expect(await eventually { batched.load == (0, 0) })
    }

    /// Prompts that arrive together are prefilled in shared graphs, several prompts' equal pieces at once: eight
    /// prompts of 16 bytes go through one graph of 8 × 16 tokens, and prompts of 16 to 23 bytes (pieces of 16,
    /// then 4, 2 and 1 grouped as they match, moving between slots) — and each one's text is still the text
    /// it gets alone, with the same seed.
    @Test func promptsArrivingTogetherShareAPrefillGraph() async throws {
        let alone = try ProjectModel.engine(parallel: 1, cacheMiB: 0)
        defer { alone.shutdown() }
        for (round, prompts) in [(0..<8).map { "Tale \($0): one day," }, (0..<8).map { "Tale \($0): one day," + String(repeating: "!", count: $0) }].enumerated() {
            var expected: [Outcome] = []
            for (i, prompt) in prompts.enumerated() {
                expected.append(await Outcome.collect(try alone.submit(ProjectModel.job(prompt, maxTokens: 12, seed: UInt64(i)))))
            }
            let metrics = ServerMetrics()
            let together = try InferenceEngine(model: try ProjectModel.model.get(), codec: .bytes, threads: 2, parallel: 8, queueLimit: 8,
                                               cacheBytes: 0, prefillChunk: 128, metrics: metrics)
            defer { together.shutdown() }
            // Queued before the engine starts: its first step sees all eight.
            let streams = try prompts.enumerated().map { i, prompt in try together.submit(ProjectModel.job(prompt, maxTokens: 12, seed: UInt64(i))) }
            together.start()
            var outcomes: [Outcome] = []
            for stream in streams { outcomes.append(await Outcome.collect(stream)) }
            #expect(outcomes == expected, "round \(round)")
            #expect(outcomes.allSatisfy { $0.failure == nil && $0.usage?.completionTokens ?? 0 > 0 })
            if round == 0 {
                #expect(prompts.allSatisfy { $0.utf8.count == 16 })
                #expect(metrics.render().contains("rwkv_prefill_batch_size 8"), "\(metrics.render())")
            }
        }
    }

    /// Prompts that leave while being prefilled (their clients gone) free their prefill slots, and the
    /// prompts left, moved between slots, still give the texts they get alone. Four prompts of 60 bytes with
    /// a budget of 128 are prefilled together in pieces of 32, 16, 8 and 4; the clients of prompts 0 and 2 go
    /// away right after the first step (from the engine's `afterStep`, so at a known point however slow the
    /// machine), and prompts 1 and 3 take the remaining pieces as a group of two.
    @Test func cancelledPromptsLeaveThePrefillSlots() async throws {
        let prompts = (0..<4).map { "\($0) " + String(String(repeating: "The cat sat on the mat. ", count: 3).prefix(58)) }
        #expect(prompts.allSatisfy { $0.utf8.count == 60 })
        let alone = try ProjectModel.engine(parallel: 1, cacheMiB: 0, prefillChunk: 128)
        defer { alone.shutdown() }
        var expected: [Outcome] = []
        for i in [1, 3] { expected.append(await Outcome.collect(try alone.submit(ProjectModel.job(prompts[i], maxTokens: 10, seed: UInt64(i))))) }
        let metrics = ServerMetrics()
        let together = try InferenceEngine(model: try ProjectModel.model.get(), codec: .bytes, threads: 2, parallel: 4, queueLimit: 8,
                                           cacheBytes: 0, prefillChunk: 128, metrics: metrics)
        defer { together.shutdown() }
        let log = StepLog()
        together.afterStep = { [weak together] in
            log.lock.withLock {
                log.steps += 1
                guard log.steps == 1 else { return }
                log.loadAfterFirstStep = together?.load
                log.doomed.removeAll()  // the last references to streams 0 and 2: their requests are cancelled
            }
        }
        // The log holds the only references to streams 0 and 2 once this closure returns (its array is gone).
        let kept: [AsyncStream<GenerationEvent>] = try {
            let streams = try prompts.enumerated().map { i, prompt in try together.submit(ProjectModel.job(prompt, maxTokens: 10, seed: UInt64(i))) }
            log.lock.withLock { log.doomed = [streams[0], streams[2]] }
            return [streams[1], streams[3]]
        }()
        together.start()
        var outcomes: [Outcome] = []
        for stream in kept { outcomes.append(await Outcome.collect(stream)) }
        #expect(outcomes == expected)
        #expect(log.lock.withLock { log.loadAfterFirstStep! == (4, 0) }, "all four were prefilling after the first step")
        #expect(metrics.render().contains("rwkv_prefill_batch_size 2"), "\(metrics.render())")
        #expect(await eventually { together.load == (0, 0) }, "\(together.load)")
    }

    /// The prefill schedule: a prompt's pieces are powers of two that depend on its length only; groups take
    /// equal pieces (1, 2, 4 or 8 prompts, the earliest first) within the step's budget, the most tokens first.
    @Test func prefillGroupsTakeEqualPiecesWithinTheBudget() {
        #expect([300, 44, 20, 1].map { InferenceEngine.piece($0, budget: 128) } == [128, 32, 16, 1])
        #expect(InferenceEngine.piece(300, budget: 100) == 64 && InferenceEngine.piece(5000, budget: 4096) == 256)
        // A long prompt alone first, then the short ones together.
        #expect(InferenceEngine.prefillGroup(pieces: [128, 16, 16], budget: 128, mostSequences: 8)! == ([0], 128))
        #expect(InferenceEngine.prefillGroup(pieces: [16, 16, 32, 16, 16, 16], budget: 128, mostSequences: 8)! == ([0, 1, 3, 4], 16))
        #expect(InferenceEngine.prefillGroup(pieces: Array(repeating: 16, count: 8), budget: 128, mostSequences: 8)!.members.count == 8)
        #expect(InferenceEngine.prefillGroup(pieces: Array(repeating: 16, count: 8), budget: 128, mostSequences: 3)!.members == [0, 1])
        #expect(InferenceEngine.prefillGroup(pieces: [32, 16], budget: 20, mostSequences: 8)! == ([1], 16))
        #expect(InferenceEngine.prefillGroup(pieces: [32, 16], budget: 8, mostSequences: 8) == nil)
        #expect(InferenceEngine.prefillGroup(pieces: [4, 8], budget: 8, mostSequences: 8)! == ([1], 8))
        #expect(InferenceEngine.prefillGroup(pieces: [], budget: 128, mostSequences: 8) == nil)
    }

    /// A long prompt, prefilled 16 tokens a step, does not stall a stream already running: that stream
    /// keeps producing a token every step while the prompt is prefilled. Everything is done and counted on the
    /// scheduling thread (`afterStep`), not when the test's tasks get to run, which a loaded machine delays:
    /// the long prompt arrives after step 2 (the running stream decoding), its 115 pieces take ≥ 100 steps with
    /// both running, and the running stream's 400 tokens still take about 400 steps in all (they would take 515
    /// if its decode waited for the prefill).
    @Test func chunkedPrefillInterleavesWithDecode() async throws {
        let engine = try InferenceEngine(model: try ProjectModel.model.get(), codec: .bytes, threads: 2, parallel: 2, queueLimit: 8,
                                         cacheBytes: 0, prefillChunk: 16)
        defer { engine.shutdown() }
        let long = String(repeating: "The cat sat on the mat and looked at the sun. ", count: 40)  // 1,840 tokens: 115 chunks
        let log = StepLog()
        engine.afterStep = { [weak engine] in
            guard let engine else { return }
            let load = engine.load
            let step = log.lock.withLock {
                log.steps += 1
                if load.running == 2 { log.stepsWithBoth += 1 }
                return log.steps
            }
            guard step == 2 else { return }
            let late = try? engine.submit(ProjectModel.job(long, maxTokens: 1, temperature: 0))
            log.lock.withLock { log.late = late }
        }
        engine.start()
        let running = await Outcome.collect(try engine.submit(ProjectModel.job("Once upon a time", maxTokens: 400, temperature: 0,
                                                                               ignoreEndOfText: true)))
        #expect(running.failure == nil && running.usage?.completionTokens == 400, "the running stream: \(running)")
        #expect(await eventually { log.lock.withLock { log.late != nil } }, "the long prompt was not submitted")
        guard let late = log.lock.withLock({ log.late }) else { return }
        let lateOutcome = await Outcome.collect(late)
        #expect(lateOutcome.failure == nil && lateOutcome.reason != nil, "the long prompt: \(lateOutcome)")
        let (steps, both) = log.lock.withLock { (log.steps, log.stepsWithBoth) }
        #expect(both >= 100 && steps <= 430, "\(steps) steps, \(both) with both sequences running")
    }

    /// A request counts as running from the moment it leaves the queue: a client that has its first token
    /// never sees `load` without it (CI once read (0, 1) here: the count was updated only after the step).
    /// Each stream is kept alive explicitly until the load is read: Swift may release a value after its last
    /// use, and a released stream cancels its request.
    @Test func loadCountsARequestOnceItsFirstTokenIsOut() async throws {
        let engine = try ProjectModel.engine(parallel: 2)
        defer { engine.shutdown() }
        for round in 0..<40 {
            do {  // the stream ends with this scope: the request is cancelled
                let stream = try engine.submit(ProjectModel.job("Once \(round)", maxTokens: Self.endless, seed: UInt64(round),
                                                                ignoreEndOfText: true))
                var iterator = stream.makeAsyncIterator()
                let first = await iterator.next()
                let load = engine.load
                // What followed, when the load was wrong (a failure or an early end names the cause).
                var after: [GenerationEvent] = []
                if load != (1, 0) { for _ in 0..<3 { if let event = await iterator.next() { after.append(event) } } }
                withExtendedLifetime((stream, iterator)) {}
                #expect(first.map(Self.isText) == true, "round \(round): \(String(describing: first))")
                #expect(load.running == 1 && load.waiting == 0, "round \(round): \(load), then \(after)")
            }
            #expect(await eventually { engine.load == (0, 0) }, "round \(round): \(engine.load)")
        }
    }

    /// An RWKV-7b (DeepEmbedAttention) model serves like any other; a reply ends with `length` when its
    /// context is full (limit − prompt + 1 tokens: the last sampled token is never fed), and a prompt longer
    /// than the limit is refused with 400.
    @Test func attentionModelsStopAtTheContextLimit() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("RWKVGraphTests/Fixtures/random-rwkv7b.st").path
        let engine = try InferenceEngine(model: try RWKV7Model(path: path), codec: .bytes, threads: 2, parallel: 2, queueLimit: 8,
                                         cacheBytes: 8 << 20, prefillChunk: 8, contextLimit: 24)
        engine.start()
        defer { engine.shutdown() }
        func job(_ count: Int, seed: UInt64) -> GenerationJob {
            var sampler = SamplerSettings()
            sampler.seed = seed
            sampler.bansEndOfText = true
            return GenerationJob(promptTokens: (0..<count).map { Int32(($0 * 37 + Int(seed)) % 512) }, maxTokens: 100, sampler: sampler)
        }
        let (one, two) = (try engine.submit(job(20, seed: 1)), try engine.submit(job(10, seed: 2)))
        async let a = Outcome.collect(one)
        async let b = Outcome.collect(two)
        let (first, second) = await (a, b)
        #expect(first.failure == nil && first.reason == .length && first.usage?.completionTokens == 5)
        #expect(second.failure == nil && second.reason == .length && second.usage?.completionTokens == 15)
        #expect(throws: ServerError(400, "the prompt has 25 tokens, more than the context limit of 24", param: "prompt")) {
            _ = try engine.submit(job(25, seed: 3))
        }
        let again = await Outcome.collect(try engine.submit(job(20, seed: 1)))
        #expect(again == first)
    }

    /// Beyond `parallel` running and `queue` waiting, a request is refused with 429; cancelled requests
    /// (their streams dropped) free their sequences at the next step.
    @Test func fullQueueIsRefusedAndCancelledRequestsLeave() async throws {
        let engine = try ProjectModel.engine(parallel: 1, queue: 1)
        defer { engine.shutdown() }
        do {  // Neither may end by itself while the test looks at the load; both are cancelled at the end of the scope.
            let first = try engine.submit(ProjectModel.job("Once", maxTokens: Self.endless, ignoreEndOfText: true))
            var iterator = first.makeAsyncIterator()
            let event = await iterator.next()
            let second = try engine.submit(ProjectModel.job("Twice", maxTokens: Self.endless, ignoreEndOfText: true))
            #expect(throws: ServerError(429, "the server is busy: 1 sequences running and 1 waiting; retry later", type: "rate_limit_error",
                                        code: "rate_limit_exceeded")) {
                _ = try engine.submit(ProjectModel.job("Thrice", maxTokens: 1))
            }
            let load = engine.load
            withExtendedLifetime((first, iterator, second)) {}
            #expect(event.map(Self.isText) == true, "\(String(describing: event))")
            #expect(load == (1, 1))
        }
        #expect(await eventually { engine.load == (0, 0) }, "cancelled requests still hold \(engine.load)")
        let after = await Outcome.collect(try engine.submit(ProjectModel.job("Once", maxTokens: 5)))
        #expect(after.usage?.completionTokens ?? 0 > 0)
    }

    /// A reply that never ends by itself, only when its stream is dropped. A bound of 100 000 tokens was not
    /// enough: the model makes ~2 400 tokens/s, and on CI's loaded 2 cores a test task that held its first token
    /// resumed only after the rest had been generated (the load then read (0, 0) with the text still buffered).
    static let endless = Int.max

    private static func isText(_ event: GenerationEvent) -> Bool {
        if case .text = event { return true }
        return false
    }

    /// A conversation's second turn starts from the state cached at the end of the first reply: only its new
    /// tokens are prefilled (the reply's last sampled token was never fed, so it is prefilled with them).
    @Test func secondTurnStartsFromTheCachedState() async throws {
        let engine = try ProjectModel.engine(parallel: 2)
        defer { engine.shutdown() }
        let turn1 = "User: Tell me a story.\n\nAssistant:"
        var job = ProjectModel.job(turn1, maxTokens: 30, temperature: 0)
        job.stops = [Array("\n\n".utf8)]
        let reply = await Outcome.collect(try engine.submit(job))
        #expect(reply.usage?.cachedTokens == 0)
        let turn2 = turn1 + reply.text + "\n\nUser: And then?\n\nAssistant:"
        let second = await Outcome.collect(try engine.submit(ProjectModel.job(turn2, maxTokens: 5, temperature: 0)))
        let cached = second.usage?.cachedTokens ?? 0
        #expect(cached >= turn1.utf8.count + reply.text.utf8.count - 1, "only \(cached) of \(turn2.utf8.count) prompt tokens came from the cache")
        #expect(cached < turn2.utf8.count)
    }

    @Test func badJobsAreRefused() throws {
        let engine = try ProjectModel.engine(parallel: 1)
        defer { engine.shutdown() }
        #expect(throws: ServerError.self) { try engine.submit(GenerationJob(promptTokens: [], maxTokens: 1, sampler: SamplerSettings())) }
        #expect(throws: ServerError.self) { try engine.submit(GenerationJob(promptTokens: [300], maxTokens: 1, sampler: SamplerSettings())) }
    }
}
