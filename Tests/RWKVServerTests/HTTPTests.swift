import Foundation
import Hummingbird
import HummingbirdTesting
import RWKVServer
import Testing

/// Every endpoint through the router, and every bad input answered with an OpenAI-style error that names
/// the field, the server serving on afterwards with no sequence left behind.
@Suite struct HTTPTests {
    static func withServer(_ body: @Sendable (any TestClientProtocol, InferenceEngine) async throws -> Void) async throws {
        let engine = try ProjectModel.engine(parallel: 4)
        defer { engine.shutdown() }
        let server = OpenAIServer(engine: engine, options: ServerOptions(modelName: "tiny", contextLimit: 2048, defaultMaxTokens: 16))
        let app = Application(router: server.router())
        try await app.test(.router) { client in try await body(client, engine) }
    }

    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        return try #require(parsed as? [String: Any])
    }

    static func post(_ client: any TestClientProtocol, _ uri: String, _ json: String) async throws -> (status: Int, body: ByteBuffer) {
        try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json)) {
            ($0.status.code, $0.body)
        }
    }

    @Test func healthModelsAndMetrics() async throws {
        try await Self.withServer { client, _ in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let health = try Self.object(response.body)
                #expect(health["status"] as? String == "ok")
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let list = try Self.object(response.body)
                let data = try #require(list["data"] as? [[String: Any]])
                #expect(data.map { $0["id"] as? String } == ["tiny"])
                #expect(data.first?["object"] as? String == "model")
            }
            _ = try await Self.post(client, "/v1/completions", #"{"prompt": "Once", "max_tokens": 3}"#)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                for name in ["rwkv_requests_total", "rwkv_generated_tokens_total", "rwkv_queue_depth", "rwkv_decode_batch_size",
                             "rwkv_time_to_first_token_seconds", "rwkv_state_cache_hits_total"] {
                    #expect(text.contains(name), "\(name) missing from /metrics")
                }
                #expect(text.contains(#"rwkv_requests_total{endpoint="completions",status="200"} 1"#))
            }
        }
    }

    @Test func completionAndChat() async throws {
        try await Self.withServer { client, _ in
            let (status, body) = try await Self.post(client, "/v1/completions",
                                                     #"{"model": "tiny", "prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "stop": ["zzz"]}"#)
            #expect(status == 200)
            let completion = try Self.object(body)
            #expect(completion["object"] as? String == "text_completion")
            let choice = try #require((completion["choices"] as? [[String: Any]])?.first)
            #expect(!(choice["text"] as? String ?? "").isEmpty)
            #expect(["stop", "length"].contains(choice["finish_reason"] as? String))
            let usage = try #require(completion["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == 16)
            #expect((usage["completion_tokens"] as? Int ?? 0) <= 12)

            // ignore_eos: no end of text, so with no stop string the reply runs to max_tokens.
            for seed in 1...4 {
                let (_, unendingBody) = try await Self.post(client, "/v1/completions",
                                                             #"{"prompt": "Once", "max_tokens": 60, "ignore_eos": true, "seed": \#(seed)}"#)
                let unending = try Self.object(unendingBody)
                #expect(((unending["choices"] as? [[String: Any]])?.first)?["finish_reason"] as? String == "length")
                #expect((unending["usage"] as? [String: Any])?["completion_tokens"] as? Int == 60)
            }

            let (_, chatBody) = try await Self.post(client, "/v1/chat/completions",
                                                   #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "max_tokens": 8, "seed": 3}"#)
            let chat = try Self.object(chatBody)
            let message = try #require(((chat["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(message["content"] is String)
        }
    }

    /// `stream: true`: server-sent events, text chunks then a last chunk with the finish reason and usage,
    /// then `data: [DONE]`; the text is the non-streamed text for the same seed.
    @Test func streamedChatEndsWithDone() async throws {
        try await Self.withServer { client, _ in
            let request = #"{"messages": [{"role": "user", "content": "Tell me about a cat."}], "max_tokens": 20, "seed": 5, "stream": STREAM}"#
            let (_, whole) = try await Self.post(client, "/v1/chat/completions", request.replacingOccurrences(of: "STREAM", with: "false"))
            let wholeObject = try Self.object(whole)
            let expected = try #require(((wholeObject["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)
            let (status, body) = try await Self.post(client, "/v1/chat/completions", request.replacingOccurrences(of: "STREAM", with: "true"))
            #expect(status == 200)
            let events = String(buffer: body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            var text = ""
            var reasons: [String] = []
            for event in events.dropLast() {
                #expect(event.hasPrefix("data: "))
                let parsed = try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8))
                let chunk = try #require(parsed as? [String: Any])
                #expect(chunk["object"] as? String == "chat.completion.chunk")
                let choice = try #require((chunk["choices"] as? [[String: Any]])?.first)
                text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
                if let reason = choice["finish_reason"] as? String { reasons.append(reason) }
            }
            #expect(text == expected)
            #expect(reasons.count == 1)
        }
    }

    /// Each bad request: its status, and the field its error names.
    static let badRequests: [(uri: String, body: String, status: Int, param: String?)] = [
        ("/v1/completions", #"{"prompt": "Once", "max_tokens": 3"#, 400, nil),
        ("/v1/completions", #"[1, 2]"#, 400, nil),
        ("/v1/completions", #"{"max_tokens": 3}"#, 400, "prompt"),
        ("/v1/completions", #"{"prompt": 7}"#, 400, "prompt"),
        ("/v1/completions", #"{"prompt": "Once", "max_tokens": "ten"}"#, 400, "max_tokens"),
        ("/v1/completions", #"{"prompt": "Once", "max_tokens": -5}"#, 400, "max_tokens"),
        ("/v1/completions", #"{"prompt": "Once", "max_tokens": 100000000}"#, 400, "max_tokens"),
        ("/v1/completions", #"{"prompt": "Once", "max_tokens": 2.5}"#, 400, "max_tokens"),
        ("/v1/completions", #"{"prompt": "Once", "temperature": -1}"#, 400, "temperature"),
        ("/v1/completions", #"{"prompt": "Once", "temperature": true}"#, 400, "temperature"),
        ("/v1/completions", #"{"prompt": "Once", "top_p": 1.5}"#, 400, "top_p"),
        ("/v1/completions", #"{"prompt": "Once", "stream": "yes"}"#, 400, "stream"),
        ("/v1/completions", #"{"prompt": "Once", "ignore_eos": 1}"#, 400, "ignore_eos"),
        ("/v1/completions", #"{"prompt": "Once", "stop": [1]}"#, 400, "stop"),
        ("/v1/completions", #"{"prompt": "Once", "n": 2}"#, 400, "n"),
        ("/v1/completions", #"{"prompt": "Once", "model": "gpt-4"}"#, 404, "model"),
        ("/v1/completions", #"{"prompt": ""}"#, 400, "prompt"),
        ("/v1/completions", #"{"prompt": [300]}"#, 400, "prompt"),
        ("/v1/completions", "{\"prompt\": \"" + String(repeating: "a", count: 3000) + "\"}", 400, "prompt"),
        ("/v1/chat/completions", #"{"messages": []}"#, 400, "messages"),
        ("/v1/chat/completions", #"{"messages": "hi"}"#, 400, "messages"),
        ("/v1/chat/completions", #"{"messages": [{"role": "wizard", "content": "hi"}]}"#, 400, "messages[0].role"),
        ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": 5}]}"#, 400, "messages[0].content"),
        ("/v1/chat/completions", #"{"prompt": "hi"}"#, 400, "messages"),
    ]

    @Test func badInputsAreClearErrorsAndTheServerServesOn() async throws {
        try await Self.withServer { client, engine in
            for bad in Self.badRequests {
                let (status, body) = try await Self.post(client, bad.uri, bad.body)
                #expect(status == bad.status, "\(bad.body.prefix(80))")
                let object = try Self.object(body)
                let error = try #require(object["error"] as? [String: Any], "\(bad.body.prefix(80))")
                #expect(!(error["message"] as? String ?? "").isEmpty)
                #expect(error["type"] is String)
                #expect(error["param"] as? String == bad.param, "\(bad.body.prefix(80)): param \(error["param"] ?? "nil")")
            }
            // Invalid UTF-8 and an oversized body.
            var invalid = ByteBuffer(string: #"{"prompt": "caf"#)
            invalid.writeBytes([0xC3, 0x28])
            invalid.writeString(#""}"#)
            let utf8Status = try await client.execute(uri: "/v1/completions", method: .post, body: invalid) { $0.status.code }
            #expect(utf8Status == 400)
            let huge = ByteBuffer(string: "{\"prompt\": \"" + String(repeating: "a", count: 9 << 20) + "\"}")
            let hugeStatus = try await client.execute(uri: "/v1/completions", method: .post, body: huge) { $0.status.code }
            #expect(hugeStatus == 413)
            // Still serving, with no sequence left running.
            let (status, _) = try await Self.post(client, "/v1/completions", #"{"prompt": "Once", "max_tokens": 2}"#)
            #expect(status == 200)
            #expect(await eventually { engine.load == (0, 0) })
        }
    }
}
