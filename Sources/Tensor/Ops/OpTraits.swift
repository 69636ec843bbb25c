import CKernels

/// One row of the op table: what the planner, the executor and the reference interpreter know about an op.
///
/// Adding an op: a case in ``Op``, its graph constructor and its row (in the `Ops/` file of its group: the
/// shape checks, `lower` and `reference` side by side), its C kernel in `CKernels/kernels/` with an entry in
/// the level table, and its tests.
struct OpTraits {
    /// Short name for errors and profiles.
    let name: String
    /// For element-wise ops: the inputs through which the node can be folded into the task producing that
    /// input (tried in order; both for the commutative add and mul), and the step it then becomes.
    var foldable: (through: [Int], step: rwkv_epilogue_step)? = nil
    /// Whether element-wise successors can run inside this op's task: its units cover whole output rows, or
    /// whole blocks of output channels over every token.
    var takesEpilogue = false
    /// The C task for a node (`out`, `in` and the epilogue are filled in by the executor).
    let lower: (LoweringContext) -> LoweredTask
    /// The naive evaluation (the test oracle): sets the node's values in `evaluation`.
    let reference: (inout ReferenceEvaluation, Graph.Node) throws -> Void
}

/// A node lowered for execution: the C task and how its work is cut into units, which never depend on the
/// thread count.
struct LoweredTask {
    var task: rwkv_task
    var unitCount: Int
    /// Estimated nanoseconds of one unit, to balance threads within a phase.
    var unitCost: Double
}

/// What lowering a node sees: the node, its graph and the kernels of the executor's level.
struct LoweringContext {
    let node: Graph.Node
    let graph: Graph
    let kernels: Kernels

    /// Rough cost weights (ns) per unit of work, used only to balance threads within a phase.
    static let nsPerWeightByte = 0.05, nsPerFlop = 0.02, nsPerElement = 0.3, nsPerTranscendental = 3.0

    func shape(_ input: Int) -> Shape { graph.shape(node.inputs[input]) }
    func dtype(_ input: Int) -> DType { graph.dtype(node.inputs[input]) }

    /// Row length and row count of the first input.
    var width: Int { shape(0)[0] }
    var rows: Int { shape(0).rowCount }

    /// A task of `kernel` over the rows of the first input, one unit a row.
    func rowTask(_ kernel: KeyPath<rwkv_kernels, rwkv_task_fn?>, nsPerValue: Double = nsPerElement,
                 _ parameters: (inout rwkv_task_params) -> Void = { _ in }) -> LoweredTask {
        var task = rwkv_task()
        task.run = kernels[kernel]
        task.width = Int64(width)
        task.rows = Int64(rows)
        parameters(&task.p)
        return LoweredTask(task: task, unitCount: rows, unitCost: Double(width) * nsPerValue)
    }

    /// Whether input `i` is one row applied to every row of the first input.
    func broadcasts(_ input: Int) -> Int32 { shape(input) != shape(0) ? 1 : 0 }
}

extension Op {
    /// This op's row of the op table (nil for the leaves, slots and weights).
    var traits: OpTraits? {
        switch self {
        case .slot, .weight: nil
        case .matmul(let sequences): MatmulOps.matmul(sequences: sequences)
        case .convertRows(let type): MatmulOps.convertRows(type)
        case .getRows: MatmulOps.getRows
        case .add: ElementwiseOps.binary("add", RWKV_STEP_ADD, \.add, commutative: true)
        case .sub: ElementwiseOps.binary("sub", RWKV_STEP_SUB, \.sub, commutative: false)
        case .mul: ElementwiseOps.binary("mul", RWKV_STEP_MUL, \.mul, commutative: true)
        case .lerp: ElementwiseOps.lerp
        case .scale(let factor): ElementwiseOps.scale(factor)
        case .unary(let function): ElementwiseOps.unary(function)
        case .shift(let sequences): ElementwiseOps.shift(sequences: sequences)
        case .rows(let start, let count, let sequences): ElementwiseOps.rows(start: start, count: count, sequences: sequences)
        case .store: ElementwiseOps.store
        case .layerNorm(let eps): NormOps.groupNorm("layer_norm", groups: 1, eps: eps)
        case .groupNorm(let groups, let eps): NormOps.groupNorm("group_norm", groups: groups, eps: eps)
        case .l2NormalizeHeads(let headSize, let eps): NormOps.l2NormalizeHeads(headSize: headSize, eps: eps)
        case .headDotScale(let headSize): RWKVOps.headDotScale(headSize: headSize)
        case .vectorTimesTokenMatrix(let rows, let columns): RWKVOps.vectorTimesTokenMatrix(rows: rows, columns: columns)
        case .wkv7(let headSize, let sequences): RWKVOps.wkv7(headSize: headSize, sequences: sequences)
        case .attentionScores(let softCap, let scale, let sequences): AttentionOps.scores(softCap: softCap, scale: scale, sequences: sequences)
        case .softmaxRows: AttentionOps.softmaxRows
        case .attentionMix(let sequences): AttentionOps.mix(sequences: sequences)
        }
    }
}
