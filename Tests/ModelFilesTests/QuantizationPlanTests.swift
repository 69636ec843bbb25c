import ModelFiles
import Tensor
import Testing

/// `--type` plans: recipes, runs of layers, overrides and llama-quantize's fallbacks (the byte-level match
/// with llama-quantize is LlamaQuantizeTests).
@Suite struct QuantizationPlanTests {
    func type(_ plan: QuantizationPlan, _ tensor: RWKV7Tensor, layer: Int? = nil, columns: Int = 256) -> DType {
        plan.type(of: tensor, layer: layer, name: tensor.ggufName(layer: layer ?? 0), shape: Shape(columns, 64), current: .f32)
    }

    @Test func recipesAndAliases() throws {
        #expect(QuantizationRecipe(name: "Q4_K_M")?.fileType == 15 && QuantizationRecipe(name: "q4_k")?.name == "q4_k_m")
        #expect(QuantizationRecipe(name: "q6_k")?.type == .q6_K && QuantizationRecipe(name: "q6_k")?.fileType == 18)
        #expect(QuantizationRecipe(name: "q4_0")?.fileType == 2 && QuantizationRecipe(name: "bf16")?.fileType == 32)
        #expect(QuantizationRecipe(name: "q4_K_X") == nil && QuantizationRecipe(name: "q8_K") == nil && QuantizationRecipe(name: "iq4_nl") == nil)
    }

    @Test func headAndFallbacksFollowLlamaQuantize() throws {
        let q4km = try QuantizationPlan(parsing: "q4_k_m")
        #expect(type(q4km, .key, layer: 0) == .q4_K && type(q4km, .embedding) == .q4_K && type(q4km, .head) == .q6_K)
        #expect(type(q4km, .key, layer: 0, columns: 128) == .q5_0)   // rows not a multiple of 256
        #expect(type(q4km, .head, columns: 128) == .q8_0)
        #expect(type(q4km, .key, layer: 0, columns: 48) == .f16)     // nor of 32
        #expect(type(try QuantizationPlan(parsing: "q5_k_s"), .key, layer: 0, columns: 96) == .q5_1)
        #expect(type(try QuantizationPlan(parsing: "q6_k"), .value, layer: 0, columns: 64) == .q8_0)
        #expect(type(try QuantizationPlan(parsing: "q2_k"), .value, layer: 0, columns: 64) == .q4_0)
        let q4, q8, f16, bf16: QuantizationPlan
        (q4, q8, f16, bf16) = (try QuantizationPlan(parsing: "q4_0"), try QuantizationPlan(parsing: "q8_0"), try QuantizationPlan(parsing: "f16"), try QuantizationPlan(parsing: "bf16"))
        #expect(type(q4, .head) == .q6_K && type(q8, .head) == .q8_0)
        var pure = try QuantizationPlan(parsing: "q4_0")
        pure.pure = true
        #expect(type(pure, .head) == .q4_0)
        #expect(type(f16, .head) == .f16 && type(bf16, .key, layer: 1) == .bf16)
        // Only the quantizable set changes.
        #expect(type(q4km, .w1, layer: 0) == .f32 && type(q4km, .lnXWeight, layer: 0) == .f32)
    }

    @Test func runsOfLayersAndOverrides() throws {
        var plan = try QuantizationPlan(parsing: " q8_0 *2 -> q5_1*1->q4_k_s ")
        #expect(plan.description == "q8_0 *2 -> q5_1 *1 -> q4_k_s" && plan.mainRecipe.name == "q4_k_s")
        #expect([0, 1, 2, 3, 30].map { type(plan, .receptance, layer: $0) } == [.q8_0, .q8_0, .q5_1, .q4_K, .q4_K])
        #expect(type(plan, .embedding) == .q8_0 && type(plan, .head) == .q6_K)
        try plan.addOverride("blk\\.[0-9]\\.channel_mix=q6_k")
        try plan.addOverride("channel_mix=f16")
        #expect(type(plan, .ffnKey, layer: 3) == .q6_K && type(plan, .ffnKey, layer: 12) == .f16 && type(plan, .key, layer: 3) == .q4_K)
    }

    @Test func badPlansAreClearErrors() throws {
        func expectError(_ text: String, _ fragment: String) {
            #expect { _ = try QuantizationPlan(parsing: text) } throws: { "\($0)".contains(fragment) }
        }
        expectError("q9_0", "'q9_0' is not a type (one of f32, f16, bf16, q8_0, q4_0")
        expectError("q8_0 -> q4_0", "must say how many layers")
        expectError("q8_0 *0 -> q4_0", "'*0' is not a positive layer count")
        expectError("q8_0 *x", "'*x' is not a positive layer count")
        expectError("", "'' is not a type")
        var plan = try QuantizationPlan(parsing: "q4_0")
        #expect { try plan.addOverride("output") } throws: { "\($0)".contains("is not PATTERN=TYPE") }
        #expect { try plan.addOverride("(=q8_0") } throws: { "\($0)".contains("'(' is not a regular expression") }
        #expect { try plan.addOverride("output=q8_K") } throws: { "\($0)".contains("'q8_K' is not a type") }
    }
}
