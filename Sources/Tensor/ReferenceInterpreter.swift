/// Naive evaluation of a ``Graph``, node by node in recording order, with the plainest loops (each op's
/// `reference` in the op table): the test oracle for the executor and its kernels. Slow by design; never
/// used for inference.
public enum ReferenceInterpreter {
    /// Results of a reference run: outputs by name and the final contents of every state slot.
    public struct Result {
        public var outputs: [String: [Float]]
        public var states: [String: [Float]]

        public init(outputs: [String: [Float]], states: [String: [Float]]) {
            self.outputs = outputs
            self.states = states
        }
    }

    /// Evaluates `graph` with slots taken from `inputs` (by slot name).
    public static func run(_ graph: Graph, inputs: [String: Tensor]) throws -> Result {
        var evaluation = ReferenceEvaluation(graph: graph)
        for slot in graph.slots {
            guard let tensor = inputs[slot.name] else { throw ExecutionError("slot '\(slot.name)' is not bound") }
            evaluation.slotValues.append(tensor.floats())
        }
        for (id, node) in graph.nodes.enumerated() {
            evaluation.current = id
            switch node.op {
            case .slot: continue
            case .weight(let tensor): evaluation.values[id] = tensor.dtype.traits.toFloat != nil || tensor.dtype == .i32 ? tensor.floats() : []
            default: try node.op.traits!.reference(&evaluation, node)
            }
        }
        var result = Result(outputs: [:], states: [:])
        for output in graph.outputs { result.outputs[output.name] = evaluation.values[output.value.id] }
        for (i, slot) in graph.slots.enumerated() where slot.isState { result.states[slot.name] = evaluation.slotValues[i] }
        return result
    }
}

/// The values of a reference run so far, which each op's reference reads and extends.
struct ReferenceEvaluation {
    let graph: Graph
    /// Each node's values as floats, and the bytes of encoded activations (convert_rows).
    var values: [[Float]]
    var encoded: [[UInt8]]
    /// Each slot's values (states are updated in place).
    var slotValues: [[Float]] = []
    /// The node being evaluated.
    var current = 0

    init(graph: Graph) {
        self.graph = graph
        values = Array(repeating: [], count: graph.nodes.count)
        encoded = Array(repeating: [], count: graph.nodes.count)
    }

    /// Input `i` of `node` as floats.
    func input(_ node: Graph.Node, _ i: Int) -> [Float] {
        if case .slot(let s) = graph.nodes[node.inputs[i].id].op { return slotValues[s] }
        return values[node.inputs[i].id]
    }

    /// The current node's values.
    mutating func set(_ result: [Float]) { values[current] = result }
}
