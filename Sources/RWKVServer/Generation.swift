import RWKVGraph
import Synchronization

/// One generation as the engine runs it: the prompt's tokens and how to sample and stop.
public struct GenerationJob: Sendable {
    public var promptTokens: [Int32]
    public var maxTokens: Int
    public var sampler: SamplerSettings
    /// Byte strings that end the output when it ends with one (removed from the text).
    public var stops: [[UInt8]]

    public init(promptTokens: [Int32], maxTokens: Int, sampler: SamplerSettings, stops: [[UInt8]] = []) {
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stops = stops
    }
}

/// Why a generation ended, in OpenAI's words.
public enum FinishReason: String, Sendable, Codable {
    /// End of text or a stop string.
    case stop
    /// `max_tokens` reached.
    case length
}

/// Token counts of a finished generation (OpenAI's `usage`).
public struct Usage: Sendable, Codable, Equatable {
    public let promptTokens: Int
    public let completionTokens: Int
    public let totalTokens: Int
    /// Prompt tokens taken from the state cache instead of being prefilled.
    public let cachedTokens: Int

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case cachedTokens = "cached_tokens"
    }

    init(prompt: Int, completion: Int, cached: Int) {
        (promptTokens, completionTokens, totalTokens, cachedTokens) = (prompt, completion, prompt + completion, cached)
    }
}

/// What a running generation reports, in order: text as it completes (whole UTF-8 characters, stop strings
/// held back until they cannot match), then exactly one `finished` or `failed`.
public enum GenerationEvent: Sendable, Equatable {
    case text(String)
    case finished(Usage, FinishReason)
    case failed(String)
}

/// A submitted job with the stream it reports to. Cancelled when the stream's consumer goes away (a client
/// that disconnects): the engine then frees its sequence at the next step.
final class GenerationRequest: Sendable {
    let job: GenerationJob
    let continuation: AsyncStream<GenerationEvent>.Continuation
    let arrival = ContinuousClock.now
    private let cancelledFlag = Atomic<Bool>(false)

    var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }

    init(job: GenerationJob, continuation: AsyncStream<GenerationEvent>.Continuation) {
        self.job = job
        self.continuation = continuation
    }

    func cancel() { cancelledFlag.store(true, ordering: .relaxed) }
}

/// A request in its slot: the sampler, what the state has consumed, and the output so far.
struct RunningSequence {
    let request: GenerationRequest
    var sampler: Sampler
    /// Prompt tokens still to prefill.
    var toPrefill: ArraySlice<Int32>
    /// Tokens the state has consumed (the key under which its state is cached).
    var fed: [Int32]
    let cachedTokens: Int
    /// The sampled token to feed at the next decode step.
    var next: Int32 = 0
    var generated = 0
    var output: [UInt8] = []
    var flushed = 0
    var decoder = UTF8StreamDecoder()
    var sentFirstToken = false

    init(request: GenerationRequest, cachedTokens: Int) {
        self.request = request
        sampler = Sampler(request.job.sampler)
        self.cachedTokens = cachedTokens
        fed = Array(request.job.promptTokens.prefix(cachedTokens))
        toPrefill = request.job.promptTokens[cachedTokens...]
    }

    /// Takes the sampled `token` with its bytes: returns the finish reason when the generation ends here,
    /// after streaming the text that can no longer become a stop string.
    mutating func accept(_ token: Int32, bytes: [UInt8]) -> FinishReason? {
        let job = request.job
        if token == 0 { return finish(.stop) }
        sampler.accept(token, text: bytes)
        output += bytes
        generated += 1
        if let stop = job.stops.first(where: { !$0.isEmpty && output.count >= $0.count && output.suffix($0.count).elementsEqual($0) }) {
            output.removeLast(stop.count)
            return finish(.stop)
        }
        if generated >= job.maxTokens { return finish(.length) }
        next = token
        let longestStop = job.stops.map(\.count).max() ?? 0
        let safe = max(flushed, output.count - max(0, longestStop - 1))
        if safe > flushed {
            emit(decoder.push(Array(output[flushed..<safe])))
            flushed = safe
        }
        return nil
    }

    /// Streams what is left of the text and ends the stream with the usage.
    mutating func finish(_ reason: FinishReason) -> FinishReason {
        if output.count > flushed { emit(decoder.push(Array(output[flushed...]))) }
        flushed = output.count
        emit(decoder.finish())
        request.continuation.yield(.finished(Usage(prompt: request.job.promptTokens.count, completion: generated, cached: cachedTokens), reason))
        request.continuation.finish()
        return reason
    }

    private func emit(_ text: String) {
        if !text.isEmpty { request.continuation.yield(.text(text)) }
    }
}
