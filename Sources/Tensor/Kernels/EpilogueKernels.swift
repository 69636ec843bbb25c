/// One element-wise node folded into the task that produces its chain input (see
/// ``ExecutionPlan/epilogues``): `out = out ∘ operand`, `out · parameter`, `f(out)` or
/// `out + (operand − out) ⊙ second`, with the same arithmetic as the node's own kernel.
struct EpilogueStep {
    enum Kind { case add, sub, mul, scale, unary, lerp }

    var kind: Kind
    var function: UnaryFunction = .sigmoid
    var parameter: Float = 0
    /// Indices into the task's inputs, and whether each is one `[C]` row for every token.
    var operand = 0, operandIsRow = false
    var second = 0, secondIsRow = false

    /// The step for a folded node (its operands are filled in by the caller).
    static func folding(_ op: Op) -> EpilogueStep {
        switch op {
        case .add: EpilogueStep(kind: .add)
        case .sub: EpilogueStep(kind: .sub)
        case .mul: EpilogueStep(kind: .mul)
        case .lerp: EpilogueStep(kind: .lerp)
        case .scale(let factor): EpilogueStep(kind: .scale, parameter: factor)
        case .unary(let function): EpilogueStep(kind: .unary, function: function)
        default: preconditionFailure("\(op.name) cannot be folded")
        }
    }
}

/// Runs a task's epilogue on the part of its output that some units just wrote.
enum EpilogueKernels {
    /// Applies every step to `channels` of each token row in `tokens` (rows of `rowLength` values).
    static func apply(_ task: KernelTask, channels: Range<Int>, tokens: Range<Int>, rowLength: Int) {
        let steps = task.epilogue!, n = channels.count, c0 = channels.lowerBound
        for t in tokens {
            let start = t * rowLength + c0
            let o = task.output + start
            for s in 0..<task.epilogueCount {
                let step = steps[s]
                switch step.kind {
                case .scale:
                    let f = step.parameter
                    for i in 0..<n { o[i] = o[i] * f }
                case .unary:
                    ElementwiseKernels.unary(step.function, o, o, n)
                case .add, .sub, .mul:
                    let b = task.input(step.operand) + (step.operandIsRow ? c0 : start)
                    switch step.kind {
                    case .add: for i in 0..<n { o[i] = o[i] + b[i] }
                    case .sub: for i in 0..<n { o[i] = o[i] - b[i] }
                    default: for i in 0..<n { o[i] = o[i] * b[i] }
                    }
                case .lerp:
                    let b = task.input(step.operand) + (step.operandIsRow ? c0 : start)
                    let m = task.input(step.second) + (step.secondIsRow ? c0 : start)
                    for i in 0..<n { o[i] = o[i] + (b[i] - o[i]) * m[i] }
                }
            }
        }
    }
}
