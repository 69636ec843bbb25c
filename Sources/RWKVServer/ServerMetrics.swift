import Prometheus

/// What `GET /metrics` reports, in Prometheus text: requests by endpoint and status, tokens in and out,
/// queue depth, decode and prefill batch sizes, time to first token, decode throughput and the state cache.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let promptTokens, generatedTokens, cacheHits, cacheMisses, cachedTokens, rejected: Counter
    let queueDepth, running, batchSize, prefillBatchSize, decodeTokensPerSecond, cacheBytes: Gauge
    let timeToFirstToken: DurationHistogram

    public init() {
        promptTokens = registry.makeCounter(descriptor: Self.named("prompt_tokens_total", "Prompt tokens received."))
        generatedTokens = registry.makeCounter(descriptor: Self.named("generated_tokens_total", "Tokens generated."))
        cacheHits = registry.makeCounter(descriptor: Self.named("state_cache_hits_total", "Prompts that started from a cached state."))
        cacheMisses = registry.makeCounter(descriptor: Self.named("state_cache_misses_total", "Prompts prefilled from the zero state."))
        cachedTokens = registry.makeCounter(descriptor: Self.named("state_cache_tokens_total", "Prompt tokens not prefilled thanks to the state cache."))
        rejected = registry.makeCounter(descriptor: Self.named("rejected_requests_total", "Requests refused because the queue was full."))
        queueDepth = registry.makeGauge(descriptor: Self.named("queue_depth", "Requests waiting for a sequence slot."))
        running = registry.makeGauge(descriptor: Self.named("running_sequences", "Sequences prefilling or decoding."))
        batchSize = registry.makeGauge(descriptor: Self.named("decode_batch_size", "Sequences in the last decode step."))
        prefillBatchSize = registry.makeGauge(descriptor: Self.named("prefill_batch_size", "Prompts in the last prefill step's graph."))
        decodeTokensPerSecond = registry.makeGauge(descriptor: Self.named("decode_tokens_per_second", "Aggregate tokens per second of the last decode step."))
        cacheBytes = registry.makeGauge(descriptor: Self.named("state_cache_bytes", "Bytes held by the state cache."))
        timeToFirstToken = registry.makeDurationHistogram(
            descriptor: Self.named("time_to_first_token_seconds", "From a request's arrival to its first token."),
            buckets: [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                      .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10)])
    }

    /// Counts one answered request.
    func request(_ endpoint: String, status: Int) {
        registry.makeCounter(descriptor: Self.named("requests_total", "HTTP requests answered."),
                             labels: [("endpoint", endpoint), ("status", "\(status)")]).increment()
    }

    /// `rwkv_NAME`.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "rwkv", metricName: name, helpText: help)
    }

    /// The metrics in Prometheus' text format.
    public func render() -> String { registry.emitToString() }
}
