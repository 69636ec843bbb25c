import Foundation
import Hummingbird
import RWKVGraph

/// What the server is and allows, beyond the engine.
public struct ServerOptions: Sendable {
    /// The model's id in `/v1/models` and in responses; a request naming another model is a 404.
    public var modelName: String
    /// Most tokens of a prompt, and most `max_tokens`.
    public var contextLimit: Int
    /// `max_tokens` when a request gives none.
    public var defaultMaxTokens: Int
    /// Chat requests use the G1 reasoning format unless they say otherwise.
    public var reasoner: Bool
    /// Largest request body, bytes (413 beyond).
    public var bodyLimit: Int

    public init(modelName: String, contextLimit: Int = 16384, defaultMaxTokens: Int = 512, reasoner: Bool = false, bodyLimit: Int = 8 << 20) {
        (self.modelName, self.contextLimit, self.defaultMaxTokens, self.reasoner, self.bodyLimit) =
            (modelName, contextLimit, defaultMaxTokens, reasoner, bodyLimit)
    }
}

/// The OpenAI-compatible HTTP API over an ``InferenceEngine``: `GET /v1/models`, `POST /v1/completions`,
/// `POST /v1/chat/completions` (streamed as server-sent events with `stream: true`), `GET /health` and
/// `GET /metrics`. Handlers only parse, tokenize and relay events: inference runs on the engine's thread.
public struct OpenAIServer: Sendable {
    public let engine: InferenceEngine
    public let options: ServerOptions
    let created = OpenAIResponse.now

    public init(engine: InferenceEngine, options: ServerOptions) {
        self.engine = engine
        self.options = options
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in
            let load = engine.load
            return json(200, Array(#"{"status":"ok","running":\#(load.running),"waiting":\#(load.waiting)}"#.utf8), endpoint: "health")
        }
        router.get("/v1/models") { _, _ in
            json(200, OpenAIResponse.json(OpenAIResponse.ModelList(data: [.init(id: options.modelName, created: created)])), endpoint: "models")
        }
        router.get("/metrics") { _, _ in
            engine.metrics.request("metrics", status: 200)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: engine.metrics.render())))
        }
        router.post("/v1/completions") { request, _ in await generate(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in await generate(request, chat: true) }
        return router
    }

    /// The application, listening on `host:port`.
    public func application(host: String, port: Int, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "rwkv-swift"),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) })
    }

    // MARK: - Generation

    private func generate(_ request: Request, chat: Bool) async -> Response {
        let endpoint = chat ? "chat_completions" : "completions"
        do throws(ServerError) {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: options.bodyLimit)
            } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
                throw ServerError(413, "the request body is larger than \(options.bodyLimit) bytes")
            } catch {
                throw ServerError(400, "the request body could not be read: \(error)")
            }
            let parsed = try OpenAIRequest(body: Array(buffer: body), chat: chat)
            if let model = parsed.model, model != options.modelName {
                throw ServerError(404, "the model '\(model)' does not exist; this server runs '\(options.modelName)'",
                                  type: "not_found_error", param: "model", code: "model_not_found")
            }
            let (job, prefix) = try makeJob(parsed)
            // A chat reply follows "Assistant:" with a space, which a client sends back as "Assistant: " +
            // content: the space is not part of the content (and the next turn's prompt then matches the
            // tokens this one fed, for the state cache).
            var reply = ReplyText(dropsLeadingSpace: chat && prefix.isEmpty)
            let events = try engine.submit(job)
            let id = OpenAIResponse.identifier(chat ? "chatcmpl" : "cmpl")
            if parsed.stream {
                let initialReply = reply
                engine.metrics.request(endpoint, status: 200)
                return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                                body: ResponseBody { writer in
                                    try await stream(events, id: id, chat: chat, prefix: prefix, reply: initialReply, to: &writer)
                                })
            }
            var text = prefix
            for await event in events {
                switch event {
                case .text(let piece): text += reply.take(piece)
                case .failed(let message): throw ServerError(500, message, type: "server_error")
                case .finished(let usage, let reason):
                    let choice = chat ? OpenAIResponse.Choice(message: .init(role: "assistant", content: text), finish_reason: reason)
                                      : OpenAIResponse.Choice(text: text, finish_reason: reason)
                    let completion = OpenAIResponse.Completion(id: id, object: chat ? "chat.completion" : "text_completion", created: OpenAIResponse.now,
                                                               model: options.modelName, choices: [choice], usage: usage)
                    return json(200, OpenAIResponse.json(completion), endpoint: endpoint)
                }
            }
            throw ServerError(500, "the generation ended without a result", type: "server_error")
        } catch {
            return json(error.status, OpenAIResponse.error(error), endpoint: endpoint)
        }
    }

    /// The job for a parsed request, and the text the reply starts with (the reasoner's `<think`, which the
    /// prompt already holds).
    func makeJob(_ parsed: OpenAIRequest) throws(ServerError) -> (GenerationJob, String) {
        var tokens: [Int32]
        var stops = parsed.stops.map { Array($0.utf8) }
        var prefix = ""
        let param: String
        switch parsed.input {
        case .text(let text):
            tokens = engine.codec.encode(Array(text.utf8))
            param = "prompt"
        case .tokens(let ids):
            tokens = ids
            param = "prompt"
        case .messages(let messages):
            let reasoner = parsed.reasoner ?? options.reasoner
            tokens = engine.codec.encode(Array(ChatFormat.prompt(messages, reasoner: reasoner).utf8))
            stops.append(Array(ChatFormat.stop(reasoner: reasoner).utf8))
            prefix = reasoner ? "<think" : ""
            param = "messages"
        }
        guard !tokens.isEmpty else { throw ServerError(400, "the prompt is empty", param: param) }
        guard tokens.count <= options.contextLimit else {
            throw ServerError(400, "the prompt has \(tokens.count) tokens, more than the context limit of \(options.contextLimit)",
                              param: param, code: "context_length_exceeded")
        }
        let maxTokens = parsed.maxTokens ?? options.defaultMaxTokens
        guard maxTokens <= options.contextLimit else {
            throw ServerError(400, "'max_tokens' is \(maxTokens), more than the context limit of \(options.contextLimit)", param: "max_tokens")
        }
        var sampler = parsed.sampler
        if !parsed.seeded { sampler.seed = UInt64.random(in: 0...UInt64.max) }
        return (GenerationJob(promptTokens: tokens, maxTokens: maxTokens, sampler: sampler, stops: stops), prefix)
    }

    /// Relays `events` as server-sent events: chunks of text, a last chunk with the finish reason and usage,
    /// then `[DONE]`. A write that fails (the client left) ends the loop, which cancels the generation.
    private func stream(_ events: AsyncStream<GenerationEvent>, id: String, chat: Bool, prefix: String, reply: ReplyText,
                        to writer: inout any ResponseBodyWriter) async throws {
        var reply = reply
        let object = chat ? "chat.completion.chunk" : "text_completion"
        func chunk(_ text: String?, role: String? = nil, reason: FinishReason? = nil, usage: Usage? = nil) -> ByteBuffer {
            let choice = chat ? OpenAIResponse.Choice(delta: .init(role: role, content: text), finish_reason: reason)
                              : OpenAIResponse.Choice(text: text ?? "", finish_reason: reason)
            return ByteBuffer(bytes: OpenAIResponse.event(OpenAIResponse.Completion(
                id: id, object: object, created: OpenAIResponse.now, model: options.modelName, choices: [choice], usage: usage)))
        }
        if chat { try await writer.write(chunk(prefix, role: "assistant")) } else if !prefix.isEmpty { try await writer.write(chunk(prefix)) }
        for await event in events {
            switch event {
            case .text(let text):
                let piece = reply.take(text)
                if !piece.isEmpty { try await writer.write(chunk(piece)) }
            case .finished(let usage, let reason): try await writer.write(chunk(chat ? nil : "", reason: reason, usage: usage))
            case .failed(let message):
                try await writer.write(ByteBuffer(bytes: Array("data: ".utf8) + OpenAIResponse.error(ServerError(500, message, type: "server_error")) + Array("\n\n".utf8)))
            }
        }
        try await writer.write(ByteBuffer(bytes: OpenAIResponse.done))
        try await writer.finish(nil)
    }

    private func json(_ status: Int, _ body: [UInt8], endpoint: String) -> Response {
        engine.metrics.request(endpoint, status: status)
        return Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// A reply's text as it streams, without the space that separates it from `Assistant:`.
struct ReplyText {
    private var dropsLeadingSpace: Bool

    init(dropsLeadingSpace: Bool) { self.dropsLeadingSpace = dropsLeadingSpace }

    /// `piece` as the client gets it.
    mutating func take(_ piece: String) -> String {
        guard dropsLeadingSpace, !piece.isEmpty else { return piece }
        dropsLeadingSpace = false
        return piece.first == " " ? String(piece.dropFirst()) : piece
    }
}
