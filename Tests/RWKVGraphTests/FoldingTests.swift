import RWKVGraph
import Tensor
import Testing

/// The executor folds element-wise nodes into the tasks that produce their inputs: the RWKV-7 graphs
/// need far fewer phases and give the same logits and state, bit for bit, as running every node alone.
@Suite struct FoldingTests {
    @Test(arguments: [1, 9])
    func foldedGraphIsBitIdenticalWithFewerPhases(tokens count: Int) throws {
        let model = try SessionTests.model.get()
        let h = model.hyperparameters
        let built = try RWKV7GraphBuilder(model: model, tokens: count, logitsForAllTokens: true).build()
        let ids: [Int32] = try SessionTests.tokens.get()
        let tokens = try Tensor(int32: Array(ids[0..<count]), shape: Shape(count))
        var results: [(phases: Int, bits: [UInt32])] = []
        for folding in [false, true] {
            let executor = Executor(graph: built.graph, threads: 2, foldingElementwise: folding)
            try executor.bind(built.tokens, tokens)
            var states: [Tensor] = []
            for slots in built.states {
                for (slot, shape) in [(slots.attShift, Shape(h.embedding)), (slots.ffnShift, Shape(h.embedding)),
                                      (slots.wkv, Shape(h.headSize, h.headSize, h.heads))] {
                    let state = try Tensor(zeros: .f32, shape)
                    try executor.bind(slot, state)
                    states.append(state)
                }
            }
            // Two runs: the second starts from the state the first left.
            try executor.run()
            try executor.run()
            let bits = (try executor.output(built.logits).floats() + states.flatMap { $0.floats() }).map(\.bitPattern)
            results.append((executor.phaseCount, bits))
        }
        #expect(results[1].bits == results[0].bits)
        // Per layer 21 phases unfolded (23 with the token shifts of several tokens); folded, the LoRA
        // activations, the decay, the gates and the residual adds ride on the matmuls and norms before them.
        #expect(results[0].phases == (count == 1 ? 21 : 23) * h.layers + 4, "\(results[0].phases) phases unfolded")
        #expect(results[1].phases == (count == 1 ? 12 : 14) * h.layers + 4, "\(results[1].phases) phases folded")
    }
}
