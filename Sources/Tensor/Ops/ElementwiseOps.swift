import CKernels
import Foundation

// Element-wise and row-copy ops: add, sub, mul, lerp, scale, unary (all foldable into their producer's task),
// shift, rows and store. Kernels: CKernels/kernels/elementwise.h.

extension Graph {
    public mutating func add(_ a: Value, _ b: Value) throws -> Value { try binary(.add, a, b) }
    public mutating func sub(_ a: Value, _ b: Value) throws -> Value { try binary(.sub, a, b) }
    public mutating func mul(_ a: Value, _ b: Value) throws -> Value { try binary(.mul, a, b) }

    /// `a + (b − a) ⊙ t`; b is `[C, T]` like a, t row-broadcast.
    public mutating func lerp(_ a: Value, _ b: Value, _ t: Value) throws -> Value {
        try requireF32("lerp", a, b, t)
        try requireSame("lerp", a, b)
        try requireRowBroadcast("lerp", t, over: a)
        return record(.lerp, [a, b, t], .f32, shape(a))
    }

    public mutating func unary(_ function: UnaryFunction, _ x: Value) throws -> Value {
        try requireF32(function.rawValue, x)
        return record(.unary(function), [x], .f32, shape(x))
    }

    public mutating func sigmoid(_ x: Value) throws -> Value { try unary(.sigmoid, x) }
    public mutating func tanh(_ x: Value) throws -> Value { try unary(.tanh, x) }
    public mutating func exp(_ x: Value) throws -> Value { try unary(.exp, x) }

    public mutating func scale(_ x: Value, _ factor: Float) throws -> Value {
        try requireF32("scale", x)
        return record(.scale(factor), [x], .f32, shape(x))
    }

    /// Token shift of `x [C, T]` with `previous [C]` as the row before the first. With S `sequences`, the T
    /// rows are S sequences of T/S rows one after another, and `previous [C, S]` holds each one's row before
    /// its first.
    public mutating func shift(_ x: Value, previous: Value, sequences: Int = 1) throws -> Value {
        try requireF32("shift", x, previous)
        let s = shape(x), p = shape(previous)
        guard s.rank <= 2, sequences >= 1, s.rowCount % sequences == 0, p.count == s[0] * sequences else {
            throw GraphError("shift: previous \(p) does not match rows of \(s) in \(sequences) sequence(s)")
        }
        return record(.shift(sequences: sequences), [x, previous], .f32, s)
    }

    /// Rows `start ..< start + count` of a `[C, T]` value; with S `sequences`, of each of its S sequences of
    /// T/S rows, giving `[C, count · S]`.
    public mutating func rows(_ x: Value, start: Int, count: Int, sequences: Int = 1) throws -> Value {
        try requireF32("rows", x)
        let s = shape(x)
        guard s.rank <= 2, sequences >= 1, s[1] % sequences == 0, start >= 0, count > 0, start + count <= s[1] / sequences else {
            throw GraphError("rows: \(start)..<\(start + count) is outside \(s) in \(sequences) sequence(s)")
        }
        return record(.rows(start: start, count: count, sequences: sequences), [x], .f32, Shape(s[0], count * sequences))
    }

    /// Copies `value` into the state slot `state` once every earlier reader of that slot has run.
    public mutating func store(_ value: Value, into state: Value) throws {
        let slot = try stateSlot("store", state)
        guard shape(value).count == shape(state).count, dtype(value) == .f32 else {
            throw GraphError("store: value \(dtype(value)) \(shape(value)) does not fit state \(shape(state))")
        }
        _ = record(.store(slot: slot), [value], .f32, shape(value), writes: slot)
    }

    private mutating func binary(_ op: Op, _ a: Value, _ b: Value) throws -> Value {
        try requireF32(op.name, a, b)
        try requireRowBroadcast(op.name, b, over: a)
        return record(op, [a, b], .f32, shape(a))
    }
}

enum ElementwiseOps {
    static func step(_ kind: Int, function: UnaryFunction? = nil, factor: Float = 0) -> rwkv_epilogue_step {
        var step = rwkv_epilogue_step()
        step.kind = Int32(kind)
        step.function = function?.kernelCode ?? 0
        step.factor = factor
        return step
    }

    /// add, sub, mul: `a ∘ b`, b row-broadcast.
    static func binary(_ name: String, _ kind: Int, _ kernel: KeyPath<rwkv_kernels, rwkv_task_fn?>, commutative: Bool) -> OpTraits {
        OpTraits(name: name, foldable: (commutative ? [0, 1] : [0], step(kind)), takesEpilogue: true,
                 lower: { context in context.rowTask(kernel) { $0.binary.broadcast = context.broadcasts(1) } },
                 reference: { e, node in
                     let a = e.input(node, 0), b = e.input(node, 1)
                     e.set(a.indices.map { i in
                         let (x, y) = (a[i], b[i % b.count])
                         return kind == RWKV_STEP_ADD ? x + y : kind == RWKV_STEP_SUB ? x - y : x * y
                     })
                 })
    }

    static var lerp: OpTraits {
        OpTraits(
            name: "lerp", foldable: ([0], step(RWKV_STEP_LERP)), takesEpilogue: true,
            lower: { context in context.rowTask(\.lerp) { $0.binary.broadcast = context.broadcasts(2) } },
            reference: { e, node in
                let a = e.input(node, 0), b = e.input(node, 1), t = e.input(node, 2)
                e.set(a.indices.map { a[$0] + (b[$0] - a[$0]) * t[$0 % t.count] })
            })
    }

    static func scale(_ factor: Float) -> OpTraits {
        OpTraits(name: "scale", foldable: ([0], step(RWKV_STEP_SCALE, factor: factor)), takesEpilogue: true,
                 lower: { $0.rowTask(\.scale) { $0.scale.factor = factor } },
                 reference: { e, node in e.set(e.input(node, 0).map { $0 * factor }) })
    }

    static func unary(_ function: UnaryFunction) -> OpTraits {
        let cheap = function == .negate || function == .reluSquared
        return OpTraits(
            name: function.rawValue, foldable: ([0], step(RWKV_STEP_UNARY, function: function)), takesEpilogue: true,
            lower: { $0.rowTask(\.unary, nsPerValue: cheap ? LoweringContext.nsPerElement : LoweringContext.nsPerTranscendental) {
                $0.unary.function = function.kernelCode
            } },
            reference: { e, node in e.set(e.input(node, 0).map { apply(function, $0) }) })
    }

    static func shift(sequences: Int) -> OpTraits {
        OpTraits(
            name: "shift", takesEpilogue: true,
            lower: { context in context.rowTask(\.shift) { $0.rows.sequence_rows = Int64(context.rows / sequences) } },
            reference: { e, node in
                let x = e.input(node, 0), previous = e.input(node, 1), c = e.graph.shape(node.inputs[0])[0]
                let length = x.count / sequences
                var out: [Float] = []
                for s in 0..<sequences {
                    out += previous[(s * c)..<((s + 1) * c)]
                    out += x[(s * length)..<((s + 1) * length - c)]
                }
                e.set(out)
            })
    }

    static func rows(start: Int, count: Int, sequences: Int) -> OpTraits {
        OpTraits(name: "rows", takesEpilogue: true,
                 lower: { context in
                     let inputRows = context.shape(0).rowCount
                     var lowered = context.rowTask(\.rows) {
                         $0.rows.first = Int64(start)
                         $0.rows.count = Int64(count)
                         $0.rows.sequence_rows = Int64(inputRows / sequences)
                     }
                     lowered.unitCount = context.node.shape[1]
                     lowered.task.rows = Int64(context.node.shape[1])
                     return lowered
                 },
                 reference: { e, node in
                     let x = e.input(node, 0), width = e.graph.shape(node.inputs[0])[0]
                     let length = x.count / width / sequences
                     var out: [Float] = []
                     for s in 0..<sequences {
                         let first = (s * length + start) * width
                         out += x[first..<(first + count * width)]
                     }
                     e.set(out)
                 })
    }

    static var store: OpTraits {
        OpTraits(
            name: "store", lower: { $0.rowTask(\.store) },
            reference: { e, node in
                guard case .store(let slot) = node.op else { return }
                e.slotValues[slot] = e.input(node, 0)
            })
    }

    /// The reference value of a unary function.
    static func apply(_ f: UnaryFunction, _ v: Float) -> Float {
        switch f {
        case .sigmoid: 1 / (1 + Foundation.exp(-v))
        case .tanh: Foundation.tanh(v)
        case .exp: Foundation.exp(v)
        case .negate: -v
        case .softplus: Float(Foundation.log(1 + Foundation.exp(Double(v))))
        case .reluSquared: max(v, 0) * max(v, 0)
        }
    }
}
